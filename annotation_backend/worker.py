"""The training worker: ``python -m annotation_backend.worker [--once]``.

Claims the next queued training run, fetches the annotated tasks from Label Studio, fine-tunes
the champion on them, and promotes the candidate only when it is not worse than the champion on
the validation clips. A run that fails for any reason is finished as failed with its error; the
champion then keeps serving. Events up to the newest one seen when the run was claimed are
marked processed once the run succeeds; after a failure they stay pending, so a later event
queues a retry. Reads the backend's settings (BACKEND_* variables).
"""

import argparse
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from annotation_backend.frames import FrameLoader
from annotation_backend.label_studio_source import AnnotationSource, LabelStudioSource
from annotation_backend.migrations import open_database
from annotation_backend.promotion import VersionLedger, evaluate_gate, promote, reject
from annotation_backend.settings import BackendSettings
from annotation_backend.state import (
    AnnotationEvent,
    RunNotRunning,
    RunStatus,
    StateStore,
    TrainingRun,
    VersionStatus,
    make_session_factory,
)
from training.annotation_dataset import build_samples, clip_refs, split_frames
from training.finetune import FinetuneConfig, finetune_from_champion
from training.splits import SplitFile
from training.store import ModelStore

logger = logging.getLogger(__name__)

POLL_INTERVAL_S = 10.0


@dataclass
class Worker:
    """Everything one training run needs; ``run_once`` executes at most one run."""

    sessions: sessionmaker
    store: ModelStore
    source: AnnotationSource
    config: FinetuneConfig = FinetuneConfig()
    split_file: SplitFile | None = None
    """Which clips train, validate and are held out; by default ``split.json`` in the store."""
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    on_promotion: Callable[[str], None] | None = None
    """Called with the new champion's version once it is promoted."""

    def __post_init__(self) -> None:
        self.state = StateStore(self.sessions)
        self.ledger = VersionLedger(self.sessions)
        if self.split_file is None:
            self.split_file = SplitFile(self.store.root / "split.json")

    def run_once(self) -> TrainingRun | None:
        """Claims and executes the next queued run; None when nothing is queued."""
        run = self.state.claim_next_run(self.worker_id)
        if run is None:
            return None
        events_up_to = latest_event_id(self.sessions)
        log: list[str] = []
        try:
            version = self.train_and_gate(log)
        except Exception as error:
            logger.exception("training run %d failed", run.id)
            return self._finish(run.id, RunStatus.FAILED, log, f"{type(error).__name__}: {error}")
        finished = self._finish(run.id, RunStatus.SUCCEEDED, log, model_version=version)
        self.state.mark_events_processed(events_up_to)
        return finished

    def train_and_gate(self, log: list[str]) -> str:
        """Fine-tunes a candidate, then promotes or rejects it; returns the candidate version."""
        frames = self.source.annotated_frames()
        split = self.split_file.assign(clip_refs(frames))
        training, validation = split_frames(frames, split)
        held_out = len(frames) - len(training) - len(validation)
        log.append(
            f"frames: {len(training)} training, {len(validation)} validation, "
            f"{held_out} of test clips left out"
        )
        spec = self.store.load_champion().spec
        samples = build_samples(training, self.source.load_gray, spec)
        validation_samples = build_samples(validation, self.source.load_gray, spec)
        version, metrics = finetune_from_champion(
            self.store, samples, validation_samples, self.config
        )
        snapshot = {"training": samples.snapshot(), "validation": validation_samples.snapshot()}
        self.state.add_model_version(version, VersionStatus.CANDIDATE, asdict(metrics), snapshot)
        log.append(f"candidate {version}: validation Dice {metrics.validation_dice}")
        self._gate(version, validation_samples, log)
        return version

    def _gate(self, version: str, validation_samples, log: list[str]) -> None:
        try:
            decision = evaluate_gate(self.store, version, validation_samples)
        except Exception:
            reject(self.ledger, version)
            raise
        log.append(
            f"gate on {list(decision.structures)}: candidate {decision.candidate_mean:.4f}, "
            f"champion {decision.champion} {decision.champion_mean:.4f}"
        )
        if decision.promote:
            promote(self.store, self.ledger, version)
            log.append(f"promoted {version}")
            self._announce(version, log)
        else:
            reject(self.ledger, version)
            log.append(f"rejected {version}; champion {decision.champion} kept")

    def _announce(self, version: str, log: list[str]) -> None:
        if self.on_promotion is None:
            return
        try:
            self.on_promotion(version)
            log.append("predictions refreshed")
        except Exception as error:  # the promotion stands even if Label Studio is unreachable
            logger.warning("predictions not refreshed after promoting %s: %s", version, error)
            log.append(f"predictions not refreshed: {type(error).__name__}")

    def _finish(self, run_id, status, log, error=None, model_version=None) -> TrainingRun | None:
        try:
            return self.state.finish_run(run_id, status, "\n".join(log), error, model_version)
        except RunNotRunning as lost:
            # The backend fails running runs when it restarts, this worker's included.
            logger.warning("training run %d outcome not recorded: %s", run_id, lost)
            return None


def latest_event_id(sessions: sessionmaker) -> int:
    """The id of the newest stored event; 0 when there is none."""
    with sessions() as session:
        return session.scalar(select(func.max(AnnotationEvent.id))) or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--once", action="store_true", help="run at most one queued run, exit")
    parser.add_argument("--poll-s", type=float, default=POLL_INTERVAL_S)
    parser.add_argument("--epochs", type=int, default=FinetuneConfig.epochs)
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = BackendSettings()
    engine = open_database(settings.database_url)
    frames = FrameLoader.from_settings(settings)
    source = LabelStudioSource.from_settings(settings, frames)
    try:
        worker = Worker(
            make_session_factory(engine),
            ModelStore(settings.model_store),
            source,
            FinetuneConfig(epochs=arguments.epochs),
            on_promotion=source.refresh_predictions,
        )
        _serve(worker, arguments.once, arguments.poll_s)
    finally:
        frames.close()
        engine.dispose()
    return 0


def _serve(worker: Worker, once: bool, poll_s: float) -> None:
    # Assumes a single worker: a run left running can only be this worker's, cut off by a restart.
    failed = worker.state.mark_interrupted_runs_failed()
    if failed:
        logger.warning("marked %d interrupted training run(s) failed", failed)
    while True:
        run = worker.run_once()
        if once:
            logger.info("worker done: %s", "no queued run" if run is None else f"run {run.id}")
            return
        if run is None:
            time.sleep(poll_s)


if __name__ == "__main__":
    raise SystemExit(main())
