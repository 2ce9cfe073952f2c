"""Frames in a private S3 bucket (moto on loopback) through a real Label Studio and the backend.

Label Studio and the backend are started by the same functions as ``make run``, with the S3
settings in their environment; the model is a seeded, untrained network, which marks regions
on every frame and keeps the start short.
"""

from dataclasses import dataclass

import cv2
import httpx
import numpy as np
import pytest
import torch

from annotation_backend.predictions import predict_frame
from local_stack.paths import StackPaths
from local_stack.processes import Server
from local_stack.project import SpineProject
from local_stack.run import StackOptions, start_servers
from local_stack.s3_storage import register_s3_storage
from local_stack.secrets_file import StackSecrets, load_or_create
from tests.brush import assert_regions_equal
from tests.e2e.conftest import LABEL_STUDIO, free_port
from tests.s3_server import S3Server
from training.model import ModelSpec, build_network
from training.phantom import generate_clip
from training.store import ModelStore, SegmentationModel
from upload.frames import FrameRecord, encode_png
from upload.storage import S3FrameStore

pytestmark = pytest.mark.label_studio

PREFIX = "e2e/"
CLIP_ID = "clip-s3-phantom"
FRAME_INDICES = (0, 15, 30)


@dataclass
class S3Stack:
    project: SpineProject
    s3: S3Server
    store: S3FrameStore
    storage_id: int
    pngs: dict[int, bytes]
    """Frame index -> the PNG stored in the bucket."""
    model: SegmentationModel
    secrets: StackSecrets
    servers: list[Server]


def seeded_model(store: ModelStore) -> SegmentationModel:
    torch.manual_seed(0)
    spec = ModelSpec()
    store.promote(store.save(build_network(spec), spec, {"trained_on": "nothing"}))
    return store.load_champion()


def store_phantom_frames(store: S3FrameStore) -> tuple[list[FrameRecord], dict[int, bytes]]:
    clip = generate_clip(7, "long_axis")
    records, pngs = [], {}
    for index in FRAME_INDICES:
        frame = clip.render(index)
        key = f"frames/{CLIP_ID}/{index:06d}.png"
        pngs[index] = encode_png(frame.image)
        store.put(key, pngs[index], "image/png")
        height_px, width_px = frame.image.shape
        records.append(
            FrameRecord(CLIP_ID, index, frame.time_s, "long_axis", key, width_px, height_px, None)
        )
    return records, pngs


def start_with_s3(options: StackOptions, secrets: StackSecrets, s3: S3Server) -> list[Server]:
    """Both servers get the S3 settings the way a deployment would give them: as environment."""
    with pytest.MonkeyPatch.context() as environment:
        for name, value in s3.environment.items():
            environment.setenv(name, value)
        environment.setenv("BACKEND_S3_BUCKET", s3.bucket)
        environment.setenv("BACKEND_S3_ENDPOINT_URL", s3.endpoint_url)
        return start_servers(options, secrets)


@pytest.fixture(scope="module")
def s3_stack(tmp_path_factory, s3_server) -> S3Stack:
    if not LABEL_STUDIO.exists():
        pytest.fail(f"Label Studio is not installed at {LABEL_STUDIO}: run `make test`")
    root = tmp_path_factory.mktemp("s3-stack")
    paths = StackPaths(root / "var")
    paths.media_root.mkdir(parents=True)
    options = StackOptions(root, paths, LABEL_STUDIO, free_port(), free_port(), frame_step=1)
    secrets, _ = load_or_create(paths.secrets)
    model = seeded_model(ModelStore(paths.models))
    store = s3_server.store(PREFIX)
    records, pngs = store_phantom_frames(store)
    servers = start_with_s3(options, secrets, s3_server)
    try:
        project = SpineProject(
            f"http://127.0.0.1:{options.label_studio_port}", secrets.label_studio_token
        )
        project.connect_backend(f"http://127.0.0.1:{options.backend_port}", secrets)
        storage_id = register(project, s3_server)
        project.import_frames(records, store)
        project.request_predictions()
        yield S3Stack(project, s3_server, store, storage_id, pngs, model, secrets, servers)
    finally:
        for server in reversed(servers):
            server.stop()


def register(project: SpineProject, s3: S3Server) -> int:
    return register_s3_storage(
        project.client,
        project.id,
        s3.bucket,
        PREFIX,
        s3.endpoint_url,
        s3.access_key_id,
        s3.secret_access_key,
        s3.region,
    )


def api_get(stack: S3Stack, path: str, **params) -> httpx.Response:
    return httpx.get(
        stack.project.url + path,
        params=params,
        headers={"Authorization": f"Token {stack.secrets.label_studio_token}"},
        follow_redirects=True,
    )


def project_tasks(stack: S3Stack) -> list[dict]:
    tasks = stack.project.client.tasks.list(project=stack.project.id, fields="all")
    return [task.model_dump(mode="json") for task in tasks]


def test_tasks_keep_the_s3_uri_of_their_frame(s3_stack):
    for task in project_tasks(s3_stack):
        stored = api_get(s3_stack, f"/api/tasks/{task['id']}", resolve_uri="false").json()
        key = f"frames/{CLIP_ID}/{task['data']['frame_index']:06d}.png"

        assert stored["data"]["image"] == f"s3://{s3_stack.s3.bucket}/{PREFIX}{key}"


def test_every_task_gets_the_backends_regions_for_its_s3_frame(s3_stack):
    tasks = project_tasks(s3_stack)

    assert sorted(t["data"]["frame_index"] for t in tasks) == list(FRAME_INDICES)
    for task in tasks:
        png = s3_stack.pngs[task["data"]["frame_index"]]
        gray = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
        expected = predict_frame(s3_stack.model, gray, "long_axis", 0.5, 30)
        assert len(task["predictions"]) == 1
        prediction = task["predictions"][0]
        assert prediction["model_version"] == s3_stack.model.version
        assert prediction["result"], "the seeded network marks regions on every phantom frame"
        assert_regions_equal(prediction["result"], expected.masks, gray.shape)


def test_label_studio_serves_the_frame_to_a_logged_in_client_only(s3_stack):
    task = project_tasks(s3_stack)[0]
    image_url = api_get(s3_stack, f"/api/tasks/{task['id']}").json()["data"]["image"]

    served = httpx.get(
        image_url,
        headers={"Authorization": f"Token {s3_stack.secrets.label_studio_token}"},
        follow_redirects=True,
    )
    anonymous = httpx.get(image_url)

    assert image_url.startswith(f"{s3_stack.project.url}/tasks/{task['id']}/resolve/")
    assert served.status_code == 200
    assert served.content == s3_stack.pngs[task["data"]["frame_index"]]
    assert anonymous.status_code in (401, 403)


def test_the_bucket_refuses_anonymous_reads(s3_stack):
    object_url = f"{s3_stack.s3.endpoint_url}/{s3_stack.s3.bucket}/{PREFIX}frames/{CLIP_ID}"

    response = httpx.get(f"{object_url}/{FRAME_INDICES[0]:06d}.png")

    assert response.status_code == 403


def test_registering_again_keeps_one_storage_that_cannot_be_synced(s3_stack):
    storage_id = register(s3_stack.project, s3_stack.s3)
    storages = s3_stack.project.client.import_storage.s3.list(project=s3_stack.project.id)
    sync = httpx.post(
        f"{s3_stack.project.url}/api/storages/s3/{storage_id}/sync",
        headers={"Authorization": f"Token {s3_stack.secrets.label_studio_token}"},
    )

    assert storage_id == s3_stack.storage_id
    assert [s.id for s in storages] == [storage_id]
    assert sync.status_code == 400
    assert len(project_tasks(s3_stack)) == len(FRAME_INDICES)
