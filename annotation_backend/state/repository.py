"""The learning loop's state, one short transaction per call; safe across processes and hosts.

At most one training run is queued or running at a time. The database enforces it with the
partial unique index ``uq_training_runs_one_active``, so a storm of events queues one run.
A run is claimed by a compare-and-set UPDATE, so two workers never claim the same run.
"""

import logging
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from annotation_backend.state.events import ANNOTATION_ACTIONS, EventIds
from annotation_backend.state.models import (
    AnnotationEvent,
    ModelVersion,
    RunStatus,
    RunTrigger,
    TrainingRun,
    VersionStatus,
    utc_now,
)

logger = logging.getLogger(__name__)

INTERRUPTED_ERROR = "interrupted: the backend restarted while the run was in progress"
FINAL_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED)


class StateError(Exception):
    """Base of the state layer's errors."""


class RunNotRunning(StateError):
    """A run was asked to finish but it is not running (unknown, queued or already final)."""


class StateStore:
    """Repository over a session factory; every method commits before it returns."""

    def __init__(self, sessions: sessionmaker):
        self._sessions = sessions

    def record_event(self, ids: EventIds) -> int:
        """Stores one webhook event (ids only) and returns its id once committed."""
        with self._sessions.begin() as session:
            event = AnnotationEvent(
                action=ids.action,
                project_id=ids.project_id,
                task_id=ids.task_id,
                annotation_id=ids.annotation_id,
            )
            session.add(event)
            session.flush()
            return event.id

    def pending_event_count(self) -> int:
        """Unprocessed events whose action changes the training data."""
        with self._sessions() as session:
            query = select(func.count()).where(
                AnnotationEvent.processed.is_(False),
                AnnotationEvent.action.in_(ANNOTATION_ACTIONS),
            )
            return session.scalar(query) or 0

    def mark_events_processed(self, up_to_id: int) -> int:
        """Marks every event with id <= ``up_to_id`` processed; returns how many changed."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(AnnotationEvent)
                .where(AnnotationEvent.id <= up_to_id, AnnotationEvent.processed.is_(False))
                .values(processed=True)
            )
            return result.rowcount

    def active_run(self) -> TrainingRun | None:
        """The queued or running run, if any (there is never more than one)."""
        with self._sessions() as session:
            active = TrainingRun.status.in_((RunStatus.QUEUED, RunStatus.RUNNING))
            return session.scalar(select(TrainingRun).where(active))

    def enqueue_training(self, trigger: RunTrigger) -> TrainingRun | None:
        """Queues a run, or returns None when one is already queued or running."""
        if self.active_run() is not None:
            return None
        try:
            with self._sessions.begin() as session:
                run = TrainingRun(status=RunStatus.QUEUED, trigger=trigger)
                session.add(run)
        except IntegrityError:
            # Another request or host queued one between the check and the insert.
            return None
        logger.info("training queued: run %d (trigger %s)", run.id, trigger.value)
        return run

    def claim_next_run(self, worker_id: str) -> TrainingRun | None:
        """Moves the oldest queued run to running for ``worker_id``; None if nothing is queued."""
        with self._sessions.begin() as session:
            run_id = session.scalar(
                select(TrainingRun.id)
                .where(TrainingRun.status == RunStatus.QUEUED)
                .order_by(TrainingRun.queued_at, TrainingRun.id)
                .limit(1)
            )
            if run_id is None or not _claim(session, run_id, worker_id):
                return None
            run = session.get(TrainingRun, run_id)
        logger.info("training claimed: run %d by worker %s", run_id, worker_id)
        return run

    def finish_run(
        self,
        run_id: int,
        status: RunStatus,
        log: str | None = None,
        error: str | None = None,
        model_version: str | None = None,
    ) -> TrainingRun:
        """Records the outcome of a running run; ``status`` is succeeded or failed."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"a run finishes as succeeded or failed, not {status!r}")
        with self._sessions.begin() as session:
            run = session.get(TrainingRun, run_id, with_for_update=True)
            if run is None or run.status != RunStatus.RUNNING:
                found = "no such run" if run is None else f"it is {run.status.value}"
                raise RunNotRunning(f"run {run_id} cannot finish: {found}")
            _finish(run, status, error)
            run.log, run.model_version = log, model_version
        logger.info("training finished: run %d %s", run_id, status.value)
        return run

    def mark_interrupted_runs_failed(self) -> int:
        """Fails every running run; called at start-up, when no run of ours can be alive."""
        with self._sessions.begin() as session:
            running = select(TrainingRun).where(TrainingRun.status == RunStatus.RUNNING)
            runs = session.scalars(running.with_for_update()).all()
            for run in runs:
                _finish(run, RunStatus.FAILED, INTERRUPTED_ERROR)
        if runs:
            logger.warning("training interrupted: %d running runs marked failed", len(runs))
        return len(runs)

    def add_model_version(
        self, version: str, status: VersionStatus, metrics: dict, data_snapshot: dict
    ) -> ModelVersion:
        with self._sessions.begin() as session:
            model_version = ModelVersion(
                version=version, status=status, metrics=metrics, data_snapshot=data_snapshot
            )
            session.add(model_version)
        return model_version


def _claim(session: Session, run_id: int, worker_id: str) -> bool:
    """Compare-and-set: only the transaction that still sees the run queued changes it."""
    claimed = session.execute(
        update(TrainingRun)
        .where(TrainingRun.id == run_id, TrainingRun.status == RunStatus.QUEUED)
        .values(status=RunStatus.RUNNING, started_at=utc_now(), worker_id=worker_id)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1


def _finish(run: TrainingRun, status: RunStatus, error: str | None) -> None:
    finished_at: datetime = utc_now()
    run.status, run.error, run.finished_at = status, error, finished_at
    if run.started_at is not None:
        run.duration_s = (finished_at - run.started_at).total_seconds()
