"""A real Label Studio and the ML backend, started once for the end-to-end tests.

The stack is wired by the same functions ``make run`` uses, on free loopback ports, with all
state in a temporary folder. One real clip and one phantom clip are uploaded.
"""

import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from label_config import SHORT_AXIS
from local_stack.paths import StackPaths
from local_stack.processes import Server
from local_stack.project import PredictionCount, SpineProjects
from local_stack.run import StackOptions, ingest, publish, start_servers
from local_stack.secrets_file import StackSecrets, load_or_create
from training.phantom import PhantomClip, generate_clip, write_dicom
from training.store import ModelStore
from training.train import PhantomTrainingConfig, train_on_phantom
from upload.batch import BatchReport

REPO = Path(__file__).resolve().parents[2]
LABEL_STUDIO = REPO / ".venv-label-studio" / "bin" / "label-studio"
REAL_CLIP = "clarius-ocular-short.mp4"
PHANTOM_SEED = 4242


@dataclass
class RunningStack:
    options: StackOptions
    secrets: StackSecrets
    report: BatchReport
    count: PredictionCount
    projects: SpineProjects
    store: ModelStore
    version: str
    phantom: PhantomClip
    servers: list[Server]

    def tasks(self) -> list[dict]:
        """Every task of every project, as JSON-ready dicts with ``project`` set."""
        found = []
        for project in self.projects:
            for task in project.client.tasks.list(project=project.id, fields="all"):
                found.append({**task.model_dump(mode="json"), "project": project.id})
        return found

    @property
    def label_studio_url(self) -> str:
        return f"http://127.0.0.1:{self.options.label_studio_port}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def quick_model(store: ModelStore) -> str:
    """A briefly trained model: enough to draw regions, not to be accurate."""
    config = PhantomTrainingConfig(clips=8, frames_per_clip=8, epochs=4)
    version = train_on_phantom(store, config)
    store.promote(version)
    return version


def clips_folder(root: Path, real_clips_dir: Path) -> tuple[Path, PhantomClip]:
    """A real clip under its device's name, and a phantom DICOM named after its fake patient."""
    clips = root / "clips"
    (clips / SHORT_AXIS).mkdir(parents=True)
    shutil.copy(real_clips_dir / REAL_CLIP, clips / REAL_CLIP)
    phantom = generate_clip(PHANTOM_SEED, SHORT_AXIS)
    write_dicom(phantom, clips / SHORT_AXIS / f"{phantom.identifiers['patient_id']}.dcm")
    return clips, phantom


@pytest.fixture(scope="session")
def stack(tmp_path_factory, real_clips_dir) -> RunningStack:
    if not LABEL_STUDIO.exists():
        pytest.fail(f"Label Studio is not installed at {LABEL_STUDIO}: run `make test`")
    root = tmp_path_factory.mktemp("stack")
    clips, phantom = clips_folder(root, real_clips_dir)
    paths = StackPaths(root / "var")
    options = StackOptions(clips, paths, LABEL_STUDIO, free_port(), free_port(), frame_step=20)
    secrets, _ = load_or_create(paths.secrets)
    store = ModelStore(paths.models)
    version = quick_model(store)
    report = ingest(options, secrets)
    servers = start_servers(options, secrets)
    try:
        count = publish(options, secrets, report, version)
        projects = SpineProjects(
            f"http://127.0.0.1:{options.label_studio_port}", secrets.label_studio_token
        )
        yield RunningStack(
            options, secrets, report, count, projects, store, version, phantom, servers
        )
    finally:
        for server in reversed(servers):
            server.stop()
