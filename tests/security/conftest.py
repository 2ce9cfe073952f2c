"""The real backend app with known secrets, a media root with a secret file planted outside it,
the backend served by uvicorn on loopback, and the shared state databases (SQLite and the real
PostgreSQL, as in the state tests)."""

import functools
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient

from annotation_backend.app import create_app
from annotation_backend.settings import BackendSettings
from tests.annotation_backend.conftest import database_url, postgres_admin

__all__ = ["database_url", "postgres_admin"]

USER, PASSWORD = "label-studio", "basic-pass-5f1c9e"
WEBHOOK_SECRET = "hook-secret-a8d2"
LABEL_STUDIO_TOKEN = "ls-token-0c4b7d1e"
FRAME_KEY = "frames/clip-0/000000.png"
SERVER_START_S = 120


@dataclass(frozen=True)
class MediaRoot:
    """``root`` holds one frame; ``secret`` is a decodable PNG outside it: read, it would
    give a prediction, so an empty one proves it was not used."""

    root: Path
    secret: Path


def frame_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (64, 80), np.uint8)
    return cv2.imencode(".png", pixels)[1].tobytes()


@pytest.fixture()
def media(tmp_path) -> MediaRoot:
    root = tmp_path / "media"
    (root / FRAME_KEY).parent.mkdir(parents=True)
    (root / FRAME_KEY).write_bytes(frame_png(1))
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.png"
    secret.write_bytes(frame_png(2))
    return MediaRoot(root, secret)


@pytest.fixture()
def settings(untrained_store, media, tmp_path) -> BackendSettings:
    return BackendSettings(
        username=USER,
        password=PASSWORD,
        webhook_secret=WEBHOOK_SECRET,
        label_studio_token=LABEL_STUDIO_TOKEN,
        model_store=untrained_store.root,
        media_root=media.root,
        label_studio_url="http://127.0.0.1:1",
        database_url=f"sqlite:///{tmp_path / 'state.sqlite3'}",
        uncertainty_passes=0,
    )


@pytest.fixture()
def client(settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture()
def serve() -> Iterator[Callable[[BackendSettings], tuple[str, int]]]:
    """Serves the app of the given settings with uvicorn on a loopback port of its own and
    returns (host, port); every server is stopped after the test."""
    started = []

    def start(settings: BackendSettings) -> tuple[str, int]:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        started.append((server, thread, listener))
        for _ in range(SERVER_START_S * 10):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.1)
        if not server.started:
            pytest.fail(f"uvicorn did not start on {listener.getsockname()}", pytrace=False)
        return listener.getsockname()

    yield start
    for server, thread, listener in started:
        server.should_exit = True
        thread.join(timeout=60)
        listener.close()


class OpenedFiles:
    """Paths under ``folder`` that this process opened while recording (Python audit events)."""

    active: "OpenedFiles | None" = None

    def __init__(self, folder: Path):
        self.folder = folder.resolve()
        self.paths: list[Path] = []

    def notice(self, event: str, args: tuple) -> None:
        if event != "open" or not isinstance(args[0], str | bytes | Path):
            return
        path = Path(args[0].decode() if isinstance(args[0], bytes) else args[0])
        if path.resolve().is_relative_to(self.folder):
            self.paths.append(path)


def _audit_hook(event: str, args: tuple) -> None:
    if OpenedFiles.active is not None:
        OpenedFiles.active.notice(event, args)


@functools.cache
def _install_audit_hook() -> None:
    """Once per process: an audit hook cannot be removed, so it stays idle between tests."""
    sys.addaudithook(_audit_hook)


@pytest.fixture()
def opened_outside(media) -> Iterator[OpenedFiles]:
    """Records every file opened under the folder that holds the planted secret."""
    _install_audit_hook()
    OpenedFiles.active = recorder = OpenedFiles(media.secret.parent)
    try:
        yield recorder
    finally:
        OpenedFiles.active = None
