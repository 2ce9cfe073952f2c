"""The main job on one machine: ``python -m local_stack.run``.

Trains a first model on phantom clips when none exists, ingests the clips, starts Label Studio
and the ML backend on loopback, wires the project, uploads frame tasks and has every frame
pre-labelled, then serves until Ctrl-C.
"""

import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import typer

from local_stack.environment import backend_environment
from local_stack.logging_setup import configure_logging
from local_stack.paths import StackPaths
from local_stack.phantom_clips import write_phantom_clips
from local_stack.processes import (
    Server,
    label_studio_environment,
    start_backend,
    start_label_studio,
    start_worker,
)
from local_stack.project import PredictionCount, SpineProjects
from local_stack.secrets_file import StackSecrets, load_or_create
from training.store import ModelStore
from training.train import PhantomTrainingConfig, train_on_phantom
from upload.batch import BatchReport, UploadPlan, find_clips, ingest_folder
from upload.frames import IngestSettings
from upload.manifest import ClipManifests
from upload.selection import FrameSelection
from upload.storage import LocalFrameStore

logger = logging.getLogger("local_stack")


@dataclass(frozen=True)
class StackOptions:
    clips_dir: Path
    paths: StackPaths
    label_studio: Path
    label_studio_port: int
    backend_port: int
    frame_step: int
    label_studio_database_url: str | None = None
    """PostgreSQL for Label Studio (postgresql://user@host:port/name); None: its SQLite file."""
    backend_database_url: str | None = None
    """SQLAlchemy URL of the backend's state database; None: ``var/backend.sqlite3``."""


def ensure_champion(store: ModelStore) -> str:
    """The champion's version, training a first model on phantom clips if there is none."""
    champion = store.champion()
    if champion:
        return champion
    logger.info("no model yet: training a first one on phantom clips")
    version = train_on_phantom(store, PhantomTrainingConfig())
    store.promote(version)
    return version


def ingest(options: StackOptions, secrets: StackSecrets) -> BatchReport:
    clips_dir = options.clips_dir
    if not find_clips(clips_dir):
        clips_dir = options.paths.phantom_clips
        logger.info("%s holds no clips: using phantom clips in %s", options.clips_dir, clips_dir)
        write_phantom_clips(clips_dir)
    plan = UploadPlan(
        store=LocalFrameStore(options.paths.media_root),
        site_key=secrets.site_key,
        settings=IngestSettings(FrameSelection(step=options.frame_step)),
        pseudonym_map=options.paths.pseudonym_map,
        manifests=ClipManifests(options.paths.manifests),
        split_file=options.paths.split_file,
    )
    return ingest_folder(clips_dir, plan)


def start_servers(options: StackOptions, secrets: StackSecrets) -> list[Server]:
    paths = options.paths
    url = f"http://127.0.0.1:{options.label_studio_port}"
    environment = label_studio_environment(
        secrets, paths.label_studio_data, paths.media_root, url, options.label_studio_database_url
    )
    label_studio = start_label_studio(
        options.label_studio,
        options.label_studio_port,
        environment,
        paths.logs / "label-studio.log",
    )
    servers = [label_studio]
    backend_env = backend_environment(secrets, paths, url, options.backend_database_url)
    try:
        servers.append(start_backend(options.backend_port, backend_env, paths.logs / "backend.log"))
        servers.append(start_worker(backend_env, paths.logs / "worker.log"))
    except Exception:
        for server in reversed(servers):
            server.stop()
        raise
    return servers


def publish(
    options: StackOptions, secrets: StackSecrets, report: BatchReport, version: str
) -> PredictionCount:
    """Set up the projects, import the frames and have every frame pre-labelled."""
    projects = SpineProjects(
        f"http://127.0.0.1:{options.label_studio_port}", secrets.label_studio_token
    )
    backend_url = f"http://127.0.0.1:{options.backend_port}"
    projects.set_up(backend_url, secrets, options.paths.frames_dir)
    projects.import_frames(report.frames, LocalFrameStore(options.paths.media_root))
    projects.request_predictions()
    projects.show_predictions_of(version)
    return projects.prediction_count()


def summary_line(report: BatchReport, count: PredictionCount, version: str) -> str:
    failed = len(report.failures)
    return (
        f"ready: {len(report.clips)} clips ({failed} failed), {count.tasks} frame tasks, "
        f"{count.tasks_with_prediction} with a prediction, model {version}"
    )


def wait_for_interrupt() -> None:
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    stop.wait()


def main(
    clips_dir: Path = typer.Option(Path("data/clips"), help="Folder of clips to upload."),
    state_dir: Path = typer.Option(Path("var"), help="Where all state is kept."),
    label_studio: Path = typer.Option(Path(".venv-label-studio/bin/label-studio")),
    label_studio_port: int = 8080,
    backend_port: int = 9090,
    frame_step: int = typer.Option(10, min=1, help="Keep every k-th frame of each clip."),
    serve: bool = typer.Option(True, help="Keep serving until Ctrl-C after the summary."),
    label_studio_database_url: str = typer.Option(
        None, help="PostgreSQL for Label Studio, postgresql://user@host:5432/name; default SQLite."
    ),
    backend_database_url: str = typer.Option(
        None, help="The backend's state database (SQLAlchemy URL); default var/backend.sqlite3."
    ),
) -> None:
    configure_logging()
    options = StackOptions(
        clips_dir,
        StackPaths(state_dir),
        label_studio,
        label_studio_port,
        backend_port,
        frame_step,
        label_studio_database_url,
        backend_database_url,
    )
    secrets, created = load_or_create(options.paths.secrets)
    if created:
        # Printed before the long steps, so that a run cut short still shows it.
        print(
            f"generated credentials: login {secrets.label_studio_username}  password "
            f"{secrets.label_studio_password}  (shown once; kept in {options.paths.secrets}, "
            "mode 0600)",
            flush=True,
        )
    version = ensure_champion(ModelStore(options.paths.models))
    report = ingest(options, secrets)
    servers = start_servers(options, secrets)
    try:
        count = publish(options, secrets, report, version)
        _print_ready(options, secrets, report, count, version)
        if serve:
            wait_for_interrupt()
    finally:
        for server in reversed(servers):
            server.stop()
    if report.failures:
        raise typer.Exit(code=1)


def _print_ready(options, secrets, report, count, version) -> None:
    for failure in report.failures:
        print(f"FAILED {failure.source}: {failure.error}")
    print(f"Label Studio: http://127.0.0.1:{options.label_studio_port}")
    print(f"login: {secrets.label_studio_username}  (password in {options.paths.secrets})")
    print(summary_line(report, count, version), flush=True)


if __name__ == "__main__":
    typer.run(main)
