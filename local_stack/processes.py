"""Starting and stopping the two servers as child processes, bound to loopback."""

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from local_stack.environment import label_studio_database_environment
from local_stack.secrets_file import StackSecrets

logger = logging.getLogger(__name__)

# Loopback stays reachable for the ML backend; every other reserved range stays blocked.
BLOCKED_SUBNETS = (
    "0.0.0.0/8,10.0.0.0/8,100.64.0.0/10,169.254.0.0/16,172.16.0.0/12,192.0.0.0/24,"
    "192.168.0.0/16,198.18.0.0/15,224.0.0.0/4,240.0.0.0/4,fc00::/7,fe80::/10"
)


class StackError(RuntimeError):
    """A server did not start; the message says which and where its log is."""


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    url: str
    log_path: Path

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        logger.info("stopped %s", self.name)


def ensure_port_free(port: int) -> None:
    """Label Studio silently moves to the next port when its own is taken; refuse instead."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise StackError(
                f"port {port} on 127.0.0.1 is in use: stop what holds it or choose another"
            )


def label_studio_environment(
    secrets: StackSecrets,
    data_dir: Path,
    media_root: Path,
    url: str,
    database_url: str | None = None,
) -> dict:
    """With ``database_url`` (PostgreSQL), Label Studio keeps its state there; with None, in a
    SQLite file in ``data_dir``."""
    database = label_studio_database_environment(database_url) if database_url else {}
    return database | {
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir.resolve()),
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(media_root.resolve()),
        "LABEL_STUDIO_HOST": url,
        "LABEL_STUDIO_USERNAME": secrets.label_studio_username,
        "LABEL_STUDIO_PASSWORD": secrets.label_studio_password,
        "LABEL_STUDIO_USER_TOKEN": secrets.label_studio_token,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        # Label Studio reports errors to its vendor's Sentry unless both DSNs are empty.
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "USE_DEFAULT_BANNED_SUBNETS": "false",
        "USER_ADDITIONAL_BANNED_SUBNETS": BLOCKED_SUBNETS,
    }


def start_label_studio(
    executable: Path, port: int, environment: dict, log_path: Path, timeout_s: float = 300.0
) -> Server:
    ensure_port_free(port)
    command = [
        str(executable),
        "start",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-browser",
    ]
    server = _spawn("Label Studio", command, environment, f"http://127.0.0.1:{port}", log_path)
    _wait_healthy(server, "/health", timeout_s)
    return server


def start_backend(port: int, environment: dict, log_path: Path, timeout_s: float = 120.0) -> Server:
    ensure_port_free(port)
    command = [
        sys.executable,
        "-m",
        "annotation_backend",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    server = _spawn("ML backend", command, environment, f"http://127.0.0.1:{port}", log_path)
    _wait_healthy(server, "/health", timeout_s)
    return server


def start_worker(environment: dict, log_path: Path, settle_s: float = 3.0) -> Server:
    """The training worker: no port; it counts as started when it is still alive after a moment."""
    command = [sys.executable, "-m", "annotation_backend.worker"]
    server = _spawn("training worker", command, environment, "(no port)", log_path)
    time.sleep(settle_s)
    if server.process.poll() is not None:
        raise StackError(f"the training worker exited at once; see {log_path}")
    return server


def _spawn(name: str, command: list[str], environment: dict, url: str, log_path: Path) -> Server:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    process = subprocess.Popen(
        command,
        env={**os.environ, **environment},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    logger.info("starting %s on %s (log: %s)", name, url, log_path)
    return Server(name, process, url, log_path)


def _wait_healthy(server: Server, path: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise StackError(
                f"{server.name} exited with {server.process.returncode}; see {server.log_path}"
            )
        try:
            if httpx.get(server.url + path, timeout=2.0).status_code == 200:
                logger.info("%s is up on %s", server.name, server.url)
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    server.stop()
    raise StackError(
        f"{server.name} did not answer within {timeout_s:.0f} s; see {server.log_path}"
    )
