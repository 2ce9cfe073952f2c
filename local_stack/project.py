"""The Label Studio projects, one per view: created once, wired to the ML backend, fed with
frame tasks.

Every step is idempotent: a second run finds what the first made, brings its settings up to
date, and adds only what is missing.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
from label_studio_sdk import LabelStudio

from annotation_backend.auth import WEBHOOK_SECRET_HEADER
from label_config import LONG_AXIS, SHORT_AXIS
from label_config.xml import CONFIG_VIEWS, UNKNOWN_VIEW, instructions_html, labeling_config
from upload.frames import FrameRecord
from upload.storage import FrameStore

logger = logging.getLogger(__name__)

PROJECT_TITLE = "Infant lumbar spine"
VIEW_TITLES = {LONG_AXIS: "long axis", SHORT_AXIS: "short axis", UNKNOWN_VIEW: "view unknown"}
IMPORT_BATCH = 200


PREDICTION_BATCH = 64
"""Tasks per prediction request: a quarter of the backend's default task limit, and about 15 s
of CPU for the backend, well inside Label Studio's 100 s timeout."""


class BackendCredentials(Protocol):
    """What Label Studio needs to call the backend: ``StackSecrets`` has these, and so do the
    credentials a deployment reads from its environment."""

    backend_username: str
    backend_password: str
    webhook_secret: str


@dataclass(frozen=True)
class ProjectSettings:
    overlap_percent: int = 20
    """Share of tasks, in percent, that two clinicians annotate, for agreement."""
    annotators_per_overlap_task: int = 2

    def as_fields(self, view: str) -> dict:
        """Label Studio project fields; uncertainty sampling serves the lowest-score task first."""
        return {
            "label_config": labeling_config(view),
            "expert_instruction": instructions_html(view),
            "show_instruction": True,
            "sampling": "Uncertainty sampling",
            "maximum_annotations": self.annotators_per_overlap_task,
            "overlap_cohort_percentage": self.overlap_percent,
            "show_collab_predictions": True,
        }


@dataclass(frozen=True)
class PredictionCount:
    tasks: int
    tasks_with_prediction: int
    model_versions: tuple[str, ...]


class SpineProject:
    """The project holding the frames of one view."""

    def __init__(
        self,
        label_studio_url: str,
        token: str,
        view: str = UNKNOWN_VIEW,
        settings: ProjectSettings = ProjectSettings(),
    ):
        self.url = label_studio_url.rstrip("/")
        self.token = token
        self.view = view
        self.title = f"{PROJECT_TITLE}: {VIEW_TITLES[view]}"
        self.client = LabelStudio(base_url=self.url, api_key=token, timeout=600)
        self.id = self._find_or_create(settings)

    def _find_or_create(self, settings: ProjectSettings) -> int:
        fields = settings.as_fields(self.view)
        for project in self.client.projects.list():
            if project.title == self.title:
                self.client.projects.update(project.id, **fields)
                return project.id
        project = self.client.projects.create(title=self.title, **fields)
        logger.info("created project %d (%s)", project.id, self.title)
        return project.id

    def register_frame_storage(self, frames_dir: Path) -> None:
        """Label Studio serves local files only beneath a storage registered for the project."""
        frames_dir.mkdir(parents=True, exist_ok=True)
        path = str(frames_dir.resolve())
        if any(s.path == path for s in self.client.import_storage.local.list(project=self.id)):
            return
        self.client.import_storage.local.create(
            project=self.id, path=path, title="De-identified frames", use_blob_urls=False
        )

    def connect_backend(self, backend_url: str, secrets: "BackendCredentials") -> None:
        """Attach the ML backend with Basic auth and put the webhook secret on its webhook."""
        credentials = dict(
            auth_method="BASIC_AUTH",
            basic_auth_user=secrets.backend_username,
            basic_auth_pass=secrets.backend_password,
        )
        existing = [b for b in self.client.ml.list(project=self.id) if b.url == backend_url]
        if existing:
            self.client.ml.update(existing[0].id, project=self.id, url=backend_url, **credentials)
        else:
            self.client.ml.create(
                project=self.id,
                url=backend_url,
                title="Spine U-Net",
                is_interactive=False,
                **credentials,
            )
        self._secure_webhook(backend_url.rstrip("/") + "/webhook", secrets.webhook_secret)

    def _secure_webhook(self, webhook_url: str, webhook_secret: str) -> None:
        for hook in self.client.webhooks.list(project=self.id):
            if hook.url == webhook_url:
                self.client.webhooks.update(
                    hook.id, headers={WEBHOOK_SECRET_HEADER: webhook_secret}
                )
                return
        logger.warning(
            "no webhook to %s found: annotation events will not reach the backend", webhook_url
        )

    def existing_frames(self) -> set[tuple[str, int]]:
        """(clip_id, frame_index) of every task already in the project."""
        found = set()
        for task in self.client.tasks.list(project=self.id, fields="all"):
            task_data = task.data or {}
            if "clip_id" in task_data and "frame_index" in task_data:
                found.add((task_data["clip_id"], int(task_data["frame_index"])))
        return found

    def import_frames(self, frames: Iterable[FrameRecord], store: FrameStore) -> int:
        """Import the frames not yet in the project; returns how many tasks were created."""
        present = self.existing_frames()
        new = [f for f in frames if (f.clip_id, f.frame_index) not in present]
        for start in range(0, len(new), IMPORT_BATCH):
            batch = [{"data": frame_task_data(f, store)} for f in new[start : start + IMPORT_BATCH]]
            self.client.projects.import_tasks(self.id, request=batch)
        logger.info("imported %d new frame tasks (%d already present)", len(new), len(present))
        return len(new)

    def request_predictions(self, batch_size: int = PREDICTION_BATCH) -> None:
        """Ask Label Studio to fetch predictions from the backend for every task; it skips the
        tasks that already hold a prediction of the backend's current model version.

        Label Studio sends all selected tasks to the backend in one request, so the tasks go in
        batches: each must stay under the backend's task limit and Label Studio's timeout."""
        ids = [task.id for task in self.client.tasks.list(project=self.id, fields="all")]
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            response = httpx.post(
                f"{self.url}/api/dm/actions",
                params={"id": "retrieve_tasks_predictions", "project": self.id},
                json={"selectedItems": {"all": False, "included": batch}},
                headers={"Authorization": f"Token {self.token}"},
                timeout=900.0,
            )
            response.raise_for_status()

    def prediction_count(self) -> PredictionCount:
        tasks = with_prediction = 0
        versions = set()
        for task in self.client.tasks.list(project=self.id, fields="all"):
            tasks += 1
            predictions = task.predictions or []
            with_prediction += bool(predictions)
            versions.update(
                p.get("model_version") if isinstance(p, dict) else p.model_version
                for p in predictions
            )
        return PredictionCount(tasks, with_prediction, tuple(sorted(v for v in versions if v)))

    def show_predictions_of(self, model_version: str) -> None:
        """Let the labeling UI start each task from this model version's prediction."""
        self.client.projects.update(
            self.id, model_version=model_version, show_collab_predictions=True
        )


def frame_task_data(frame: FrameRecord, store: FrameStore) -> dict:
    return {
        "image": store.task_url(frame.storage_key),
        "clip_id": frame.clip_id,
        "frame_index": frame.frame_index,
        "time_s": frame.time_s,
        "view": frame.view,
        "spacing_mm_per_px": frame.spacing_mm_per_px,
        "width_px": frame.width_px,
        "height_px": frame.height_px,
        "infant_id": frame.infant_id,
    }


class SpineProjects:
    """The three projects (long axis, short axis, view unknown), addressed as one."""

    def __init__(
        self, label_studio_url: str, token: str, settings: ProjectSettings = ProjectSettings()
    ):
        self.by_view = {
            view: SpineProject(label_studio_url, token, view, settings) for view in CONFIG_VIEWS
        }
        self.client = self.by_view[UNKNOWN_VIEW].client

    def __iter__(self):
        return iter(self.by_view.values())

    def for_view(self, view: str) -> SpineProject:
        return self.by_view.get(view, self.by_view[UNKNOWN_VIEW])

    def set_up(
        self, backend_url: str, secrets: "BackendCredentials", frames_dir: Path | None
    ) -> None:
        """Backend with authentication on every project, and local frame storage if any."""
        for project in self:
            if frames_dir is not None:
                project.register_frame_storage(frames_dir)
            project.connect_backend(backend_url, secrets)

    def import_frames(self, frames: Iterable[FrameRecord], store: FrameStore) -> int:
        by_view: dict[str, list[FrameRecord]] = {}
        for frame in frames:
            by_view.setdefault(self.for_view(frame.view).view, []).append(frame)
        return sum(self.by_view[v].import_frames(f, store) for v, f in by_view.items())

    def request_predictions(self) -> None:
        for project in self:
            project.request_predictions()

    def show_predictions_of(self, model_version: str) -> None:
        """Label Studio accepts a model version only in a project that holds its predictions."""
        for project in self:
            if model_version in project.prediction_count().model_versions:
                project.show_predictions_of(model_version)

    def prediction_count(self) -> PredictionCount:
        counts = [project.prediction_count() for project in self]
        versions = sorted({v for c in counts for v in c.model_versions})
        return PredictionCount(
            sum(c.tasks for c in counts),
            sum(c.tasks_with_prediction for c in counts),
            tuple(versions),
        )
