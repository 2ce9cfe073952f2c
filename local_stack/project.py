"""The Label Studio project: created once, wired to the ML backend, fed with frame tasks.

Every step is idempotent: a second run finds what the first made and adds only what is missing.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
from label_studio_sdk import LabelStudio

from annotation_backend.auth import WEBHOOK_SECRET_HEADER
from label_config.xml import labeling_config
from local_stack.secrets_file import StackSecrets
from upload.frames import FrameRecord
from upload.storage import FrameStore

logger = logging.getLogger(__name__)

PROJECT_TITLE = "Infant lumbar spine frames"
IMPORT_BATCH = 200


@dataclass(frozen=True)
class PredictionCount:
    tasks: int
    tasks_with_prediction: int
    model_versions: tuple[str, ...]


class SpineProject:
    def __init__(self, label_studio_url: str, token: str):
        self.url = label_studio_url.rstrip("/")
        self.token = token
        self.client = LabelStudio(base_url=self.url, api_key=token, timeout=600)
        self.id = self._find_or_create()

    def _find_or_create(self) -> int:
        for project in self.client.projects.list():
            if project.title == PROJECT_TITLE:
                return project.id
        project = self.client.projects.create(
            title=PROJECT_TITLE, label_config=labeling_config(), show_collab_predictions=True
        )
        logger.info("created project %d", project.id)
        return project.id

    def register_frame_storage(self, frames_dir: Path) -> None:
        """Label Studio serves local files only beneath a storage registered for the project."""
        path = str(frames_dir.resolve())
        if any(s.path == path for s in self.client.import_storage.local.list(project=self.id)):
            return
        self.client.import_storage.local.create(
            project=self.id, path=path, title="De-identified frames", use_blob_urls=False
        )

    def connect_backend(self, backend_url: str, secrets: StackSecrets) -> None:
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

    def request_predictions(self) -> None:
        """Ask Label Studio to fetch predictions from the backend for tasks that lack them."""
        response = httpx.post(
            f"{self.url}/api/dm/actions",
            params={"id": "retrieve_tasks_predictions", "project": self.id},
            json={"selectedItems": {"all": True, "excluded": []}},
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
    }
