"""The production topology without Docker: Label Studio, the ML backend and the training worker
keep their state in PostgreSQL, frames live in S3 (moto on loopback), models in the model
store folder.

Both servers and the worker are started by ``local_stack.run.start_servers`` with the
PostgreSQL options, on two databases made for this module and dropped after it. Clips (one real,
one phantom DICOM with planted identifiers) go to ``s3://<bucket>/topology/`` through the upload
command; every task is pre-labelled; a clinician invited through Label Studio annotates every
task; the run queued by ``annotation_backend.retrain`` is trained by the worker; the gold
standard is exported; Label Studio's database is dumped and restored.
"""

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from label_config import STRUCTURES, structures_for_view
from local_stack.environment import backend_environment
from local_stack.paths import StackPaths
from local_stack.processes import Server
from local_stack.project import SpineProjects
from local_stack.run import StackOptions, start_servers
from local_stack.secrets_file import StackSecrets, load_or_create
from tests.e2e.clinicians import (
    Clinician,
    LabelledTask,
    PhantomFrame,
    invite_clinician,
    post,
    truth_annotation,
)
from tests.e2e.conftest import LABEL_STUDIO, REAL_CLIP, REPO, clips_folder, free_port, quick_model
from tests.e2e.postgres import PostgresServer, answering_server
from tests.s3_server import S3Server
from training.annotations import FrameAnnotation
from training.export import import_gold_standard
from training.phantom import PhantomClip
from training.store import ModelStore

pytestmark = pytest.mark.label_studio

PREFIX = "topology/"
FRAME_STEP = 40
EXPORT_VERSION = "topology-1"
RUN_TIMEOUT_S = 300
WEBHOOK_TIMEOUT_S = 30
LABEL_STUDIO_TABLES = {"project", "task", "task_completion", "prediction", "django_migrations"}
BACKEND_TABLES = {"alembic_version", "annotation_events", "model_versions", "training_runs"}


@dataclass
class Topology:
    options: StackOptions
    secrets: StackSecrets
    s3: S3Server
    postgres: PostgresServer
    label_studio_database: str
    backend_database: str
    projects: SpineProjects
    store: ModelStore
    version: str
    phantom: PhantomClip

    @property
    def label_studio_url(self) -> str:
        return f"http://127.0.0.1:{self.options.label_studio_port}"

    def tasks(self) -> list[dict]:
        """Every task of every project as stored: ``data.image`` keeps its ``s3://`` URI."""
        found = []
        for project in self.projects:
            tasks = self.projects.client.tasks.list(
                project=project.id, fields="all", resolve_uri=False
            )
            found += [task.model_dump(mode="json") for task in tasks]
        return found

    def backend_environment(self) -> dict:
        """What the backend, the worker and the retrain command read."""
        database_url = self.options.backend_database_url
        variables = backend_environment(
            self.secrets, self.options.paths, self.label_studio_url, database_url
        )
        return variables | production_environment(self.s3)

    def backend_rows(self, statement: str, params: tuple = ()) -> list[tuple]:
        return self.postgres.query(self.backend_database, statement, params)


@dataclass
class Annotated:
    clinician: Clinician
    posted: dict[int, FrameAnnotation]
    """Task id -> what the clinician posted."""


def production_environment(s3: S3Server) -> dict:
    """S3 as a deployment gives it; retraining is left to the scheduled command."""
    return s3.environment | {
        "BACKEND_S3_BUCKET": s3.bucket,
        "BACKEND_S3_ENDPOINT_URL": s3.endpoint_url,
        "BACKEND_RETRAIN_EVERY_N_EVENTS": "1000",
    }


def start_on_postgres(options: StackOptions, secrets: StackSecrets, s3: S3Server) -> list[Server]:
    with pytest.MonkeyPatch.context() as environment:
        for name, value in production_environment(s3).items():
            environment.setenv(name, value)
        return start_servers(options, secrets)


def upload_to_s3(options: StackOptions, s3: S3Server) -> None:
    """The upload command, as an operator runs it against the running Label Studio."""
    command = [
        sys.executable,
        "-m",
        "upload",
        str(options.clips_dir),
        f"--state-dir={options.paths.root}",
        f"--store=s3://{s3.bucket}/{PREFIX}",
        f"--s3-endpoint-url={s3.endpoint_url}",
        f"--frame-step={FRAME_STEP}",
        f"--label-studio-url=http://127.0.0.1:{options.label_studio_port}",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def pre_label(options: StackOptions, secrets: StackSecrets, version: str) -> SpineProjects:
    """The backend on every project (no local-files storage: frames are in S3), then a
    prediction for every task."""
    projects = SpineProjects(
        f"http://127.0.0.1:{options.label_studio_port}", secrets.label_studio_token
    )
    projects.set_up(f"http://127.0.0.1:{options.backend_port}", secrets, None)
    projects.request_predictions()
    projects.show_predictions_of(version)
    return projects


@pytest.fixture(scope="module")
def postgres() -> PostgresServer:
    return answering_server()


@pytest.fixture(scope="module")
def topology(tmp_path_factory, real_clips_dir, s3_server, postgres) -> Topology:
    if not LABEL_STUDIO.exists():
        pytest.fail(f"Label Studio is not installed at {LABEL_STUDIO}: run `make test`")
    root = tmp_path_factory.mktemp("topology")
    clips, phantom = clips_folder(root, real_clips_dir)
    paths = StackPaths(root / "var")
    secrets, _ = load_or_create(paths.secrets)
    store = ModelStore(paths.models)
    with (
        postgres.fresh_database("label_studio") as label_studio_database,
        postgres.fresh_database("backend") as backend_database,
    ):
        options = StackOptions(
            clips,
            paths,
            LABEL_STUDIO,
            free_port(),
            free_port(),
            FRAME_STEP,
            label_studio_database_url=postgres.database_url(label_studio_database, "postgresql"),
            backend_database_url=postgres.database_url(backend_database),
        )
        with ThreadPoolExecutor(max_workers=1) as training:
            # Trains while Label Studio migrates its database; the backend starts without a
            # model and serves the champion from its first request after the promotion.
            first_model = training.submit(quick_model, store)
            servers = start_on_postgres(options, secrets, s3_server)
        try:
            version = first_model.result()
            upload_to_s3(options, s3_server)
            projects = pre_label(options, secrets, version)
            databases = (label_studio_database, backend_database)
            yield Topology(
                options, secrets, s3_server, postgres, *databases, projects, store, version, phantom
            )
        finally:
            for server in reversed(servers):
                server.stop()


def clinician_annotation(topology: Topology, task: dict, annotator: str) -> FrameAnnotation:
    """The phantom's ground truth on phantom frames; a CSF box on the real clip's frames."""
    facts = task["data"]
    view, shape = facts["view"], (facts["height_px"], facts["width_px"])
    if view in ("long_axis", "short_axis"):
        rendered = topology.phantom.render(facts["frame_index"])
        keys = [s.key for s in STRUCTURES]
        truth = {s.key: rendered.masks[keys.index(s.key)] > 0 for s in structures_for_view(view)}
        frame = PhantomFrame(
            facts["clip_id"],
            facts["frame_index"],
            view,
            rendered.time_s,
            rendered.image,
            truth,
            topology.phantom.spacing_mm_per_px,
        )
        return truth_annotation(LabelledTask(task["id"], frame), annotator, "L3/4", "diagnostic")
    box = np.zeros(shape, bool)
    box[shape[0] // 3 : shape[0] // 2, shape[1] // 3 : shape[1] // 2] = True
    return FrameAnnotation(task["id"], annotator, masks={"csf": box}, quality="limited")


@pytest.fixture(scope="module")
def annotated(topology) -> Annotated:
    clinician = invite_clinician(
        topology.label_studio_url, topology.secrets.label_studio_token, "clinician@spine.local"
    )
    posted = {}
    for task in topology.tasks():
        posted[task["id"]] = clinician_annotation(topology, task, clinician.name)
        post(clinician, posted[task["id"]])
    return Annotated(clinician, posted)


def object_keys(s3: S3Server) -> list[str]:
    listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=PREFIX)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_frames_are_stored_in_s3_and_tasks_name_them_by_s3_uri(topology):
    frames = [key for key in object_keys(topology.s3) if key.endswith(".png")]
    tasks = topology.tasks()

    assert len(tasks) == len(frames) > 0
    assert {t["data"]["image"] for t in tasks} == {f"s3://{topology.s3.bucket}/{k}" for k in frames}
    assert {t["data"]["view"] for t in tasks} == {"short_axis", "unknown"}
    assert list(topology.options.paths.media_root.rglob("*.png")) == []


def test_label_studio_and_backend_keep_their_state_in_postgresql_not_sqlite(topology):
    label_studio_tables = topology.postgres.tables(topology.label_studio_database)
    backend_tables = topology.postgres.tables(topology.backend_database)
    [(task_rows,)] = topology.postgres.query(
        topology.label_studio_database, "SELECT count(*) FROM task"
    )
    state_root = topology.options.paths.root

    assert LABEL_STUDIO_TABLES <= label_studio_tables
    assert task_rows == len(topology.tasks())
    assert BACKEND_TABLES <= backend_tables
    assert topology.options.paths.label_studio_data.is_dir()
    assert [p for p in state_root.rglob("*") if "sqlite" in p.name.lower()] == []


def test_every_task_is_pre_labelled_by_the_backend_from_its_s3_frame(topology):
    tasks = topology.tasks()
    backend_log = (topology.options.paths.logs / "backend.log").read_text()

    for task in tasks:
        assert [p["model_version"] for p in task["predictions"]] == [topology.version]
    phantom_tasks = [t for t in tasks if t["data"]["view"] == "short_axis"]
    assert phantom_tasks and all(t["predictions"][0]["result"] for t in phantom_tasks)
    assert "frame unavailable" not in backend_log


def created_events(topology: Topology) -> list[tuple]:
    """(task id, processed) of every stored ANNOTATION_CREATED event, by task id."""
    return topology.backend_rows(
        "SELECT task_id, processed FROM annotation_events "
        "WHERE action = 'ANNOTATION_CREATED' ORDER BY task_id"
    )


def wait_for_events(topology: Topology, expected: int) -> list[tuple]:
    """``created_events`` once ``expected`` have arrived or the webhooks' time is up."""
    deadline = time.monotonic() + WEBHOOK_TIMEOUT_S
    while True:
        rows = created_events(topology)
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(1.0)


def wait_for_run(topology: Topology, run_id: int) -> tuple:
    """(status, trigger, model version, error) of the run once it has finished."""
    statement = "SELECT status, trigger, model_version, error FROM training_runs WHERE id = %s"
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        [row] = topology.backend_rows(statement, (run_id,))
        if row[0] in ("succeeded", "failed"):
            return row
        time.sleep(2.0)
    raise AssertionError(f"training run {run_id} did not finish within {RUN_TIMEOUT_S} s")


def retrain(topology: Topology) -> str:
    """``python -m annotation_backend.retrain`` as the scheduler runs it; its one output line."""
    done = subprocess.run(
        [sys.executable, "-m", "annotation_backend.retrain"],
        cwd=REPO,
        env=os.environ | topology.backend_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_annotations_reach_the_backend_and_the_worker_trains_the_queued_run(topology, annotated):
    events = wait_for_events(topology, len(annotated.posted))
    assert events == [(task_id, False) for task_id in sorted(annotated.posted)]

    queued = retrain(topology)
    assert queued.startswith("queued training run "), queued
    run_id = int(queued.rsplit(" ", 1)[1])
    status, trigger, model_version, error = wait_for_run(topology, run_id)

    assert (status, trigger, error) == ("succeeded", "schedule", None)
    assert model_version in topology.store.versions()
    versions = topology.backend_rows("SELECT version, status FROM model_versions")
    assert model_version in {version for version, _ in versions}
    assert created_events(topology) == [(task_id, True) for task_id in sorted(annotated.posted)]
    assert retrain(topology) == "nothing to do"


def export_gold_standard(topology: Topology, out: Path) -> Path:
    """``python -m training.export`` with the admin's token, audited in the backend's database;
    the folder it wrote."""
    token_file = out / "token"
    token_file.write_text(topology.secrets.label_studio_token)
    command = [
        sys.executable,
        "-m",
        "training.export",
        f"--label-studio-url={topology.label_studio_url}",
        f"--token-file={token_file}",
        f"--out={out}",
        f"--version={EXPORT_VERSION}",
    ]
    audit = {"BACKEND_DATABASE_URL": topology.options.backend_database_url}
    done = subprocess.run(
        command, cwd=REPO, env=os.environ | audit, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out / f"gold-standard-{EXPORT_VERSION}"


def planted_identifiers(topology: Topology) -> list[bytes]:
    """The real clip's file name and the phantom's fake patient details, lower-case."""
    names = [REAL_CLIP, Path(REAL_CLIP).stem, "clarius"]
    names += [v for v in topology.phantom.identifiers.values() if len(v) >= 4]
    return [name.lower().encode() for name in names]


def leaks_in(content: bytes, planted: list[bytes], where: str) -> list[str]:
    content = content.lower()
    return [f"{name.decode()} in {where}" for name in planted if name in content]


def test_gold_standard_export_holds_the_annotations_and_no_planted_identifier(
    topology, annotated, tmp_path
):
    folder = export_gold_standard(topology, tmp_path)
    gold = {frame.task_id: frame for frame in import_gold_standard(folder)}
    planted = planted_identifiers(topology)
    files = [path for path in folder.rglob("*") if path.is_file()]
    leaks = [leak for path in files for leak in leaks_in(path.read_bytes(), planted, path.name)]

    assert gold.keys() == annotated.posted.keys()
    for task_id, posted in annotated.posted.items():
        assert gold[task_id].annotator == annotated.clinician.name
        painted = {key for key, mask in gold[task_id].masks.items() if mask.any()}
        assert painted == posted.masks.keys()
        for key, mask in posted.masks.items():
            assert np.array_equal(gold[task_id].masks[key], mask), (task_id, key)
    assert len(files) > len(gold)
    assert leaks == []
    audited = topology.backend_rows("SELECT outcome, version FROM export_audit")
    assert audited == [("succeeded", EXPORT_VERSION)]


def test_no_planted_identifier_reaches_label_studios_database_or_the_logs(topology, annotated):
    planted = planted_identifiers(topology)
    database = topology.postgres.dump_sql(topology.label_studio_database)
    logs = list(topology.options.paths.logs.glob("*.log"))

    leaks = leaks_in(database, planted, "Label Studio's database")
    leaks += [leak for log in logs for leak in leaks_in(log.read_bytes(), planted, log.name)]

    assert b"infant-" in database  # the pseudonym took the patient id's place in the tasks
    assert {log.name for log in logs} == {"label-studio.log", "backend.log", "worker.log"}
    assert leaks == []


def test_label_studio_database_restores_from_its_dump_with_tasks_and_annotations(
    topology, annotated, tmp_path
):
    archive = tmp_path / "label-studio.dump"
    tasks = topology.tasks()
    expected_annotations = sorted(
        (task["id"], annotation["completed_by"])
        for task in tasks
        for annotation in task["annotations"]
    )

    topology.postgres.dump(topology.label_studio_database, archive)
    with topology.postgres.fresh_database("label_studio_restored") as restored:
        topology.postgres.restore(archive, restored)
        task_ids = topology.postgres.query(restored, "SELECT id FROM task ORDER BY id")
        annotations = topology.postgres.query(
            restored, "SELECT task_id, completed_by_id FROM task_completion ORDER BY task_id"
        )
        [(predictions,)] = topology.postgres.query(restored, "SELECT count(*) FROM prediction")

    assert [row[0] for row in task_ids] == sorted(t["id"] for t in tasks)
    assert sorted(annotations) == expected_annotations
    assert len(expected_annotations) == len(annotated.posted)
    assert predictions == sum(len(t["predictions"]) for t in tasks)
