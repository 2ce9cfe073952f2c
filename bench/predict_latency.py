"""ML backend latency against the bare forward pass, concurrency, and correction-to-serving time.

    .venv/bin/python bench/predict_latency.py [--workdir DIR] [--epochs 2]

The real backend runs under uvicorn in a child process on loopback, with its state in a
temporary folder, a model store whose champion is a seeded untrained network of the default
spec, and phantom frames written as PNGs in its media root. Every figure that matters is a ratio
of two timings taken in this one run, so that it holds on a shared, noisy machine:

1. ``/predict`` p50 and p95 for 1 frame and for 32, over the bare network forward pass on the
   same letterboxed tensors in this process; with 8 uncertainty passes (the default) and with 0.
2. 20 client threads sending 5 one-frame ``/predict`` requests each: errors and throughput.
3. From the N-th annotation webhook to the first ``/setup`` that answers the new champion, with
   the worker run once in this process on phantom annotations; the champion starts as a
   zero-weight network (Dice 0), so the gate promotes the candidate.
"""

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
import torch

from label_config import VIEWS
from local_stack.processes import Server, start_backend
from training.model import Letterbox, ModelSpec, build_network, normalise_frame
from training.phantom import generate_clip
from training.store import ModelStore

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_PATH = REPO_ROOT / "bench" / "results" / "predict_latency.json"
USER, PASSWORD, WEBHOOK_SECRET = "bench-user", "bench-pass", "bench-hook"
BATCH_FRAMES = 32
REPETITIONS = {1: 30, BATCH_FRAMES: 8}
FLOOR_REPETITIONS = {1: 100, BATCH_FRAMES: 16}
"""The floor is cheap: more repetitions keep one stall on the shared machine out of its p95."""
WARMUP_REQUESTS = 2
CLIENTS, REQUESTS_PER_CLIENT = 20, 5
RETRAIN_EVERY_N = 5
SETUP_POLL_S, SETUP_TIMEOUT_S = 0.05, 60.0


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(np.floor(rank))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(times_s: list[float]) -> dict:
    """p50 and p95 of ``times_s`` in milliseconds."""
    return {
        "p50_ms": round(1000 * percentile(times_s, 50), 3),
        "p95_ms": round(1000 * percentile(times_s, 95), 3),
        "n": len(times_s),
    }


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, rounded to 0.01; None when the denominator is not positive."""
    return round(numerator / denominator, 2) if denominator > 0 else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_frames(media_root: Path, count: int) -> list[dict]:
    """Phantom frames as PNGs under ``media_root``; returns one Label Studio task per frame."""
    folder = media_root / "frames" / "bench-clip"
    folder.mkdir(parents=True, exist_ok=True)
    clip = generate_clip(7, VIEWS[0], duration_s=(count + 1) / 30.0)
    tasks = []
    for index in range(count):
        cv2.imwrite(str(folder / f"{index:06d}.png"), clip.render(index).image)
        image = f"/data/local-files/?d=frames/bench-clip/{index:06d}.png"
        tasks.append({"id": 1 + index, "data": {"image": image, "view": VIEWS[0]}})
    return tasks


def store_with_champion(root: Path, zero_weights: bool = False) -> ModelStore:
    """A store whose champion is the default spec, seeded and untrained, or all zeros."""
    torch.manual_seed(0)
    spec, network = ModelSpec(), build_network(ModelSpec())
    if zero_weights:
        with torch.no_grad():
            for parameter in network.parameters():
                parameter.zero_()
    store = ModelStore(root)
    store.promote(store.save(network, spec, {"trained_on": "nothing"}))
    return store


@dataclass
class Backend:
    server: Server
    client: httpx.Client

    def stop(self) -> None:
        self.client.close()
        self.server.stop()


def start(workdir: Path, name: str, store: ModelStore, passes: int) -> Backend:
    """The backend in a child process, with its own state database and log under ``workdir``."""
    environment = {
        "BACKEND_USERNAME": USER,
        "BACKEND_PASSWORD": PASSWORD,
        "BACKEND_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "BACKEND_MODEL_STORE": str(store.root),
        "BACKEND_MEDIA_ROOT": str(workdir / "media"),
        "BACKEND_LABEL_STUDIO_URL": "http://127.0.0.1:1",
        "BACKEND_DATABASE_URL": database_url(workdir, name),
        "BACKEND_UNCERTAINTY_PASSES": str(passes),
        "BACKEND_RETRAIN_EVERY_N_EVENTS": str(RETRAIN_EVERY_N),
    }
    server = start_backend(free_port(), environment, workdir / f"{name}.log")
    client = httpx.Client(base_url=server.url, auth=(USER, PASSWORD), timeout=120.0)
    return Backend(server, client)


def database_url(workdir: Path, name: str) -> str:
    return f"sqlite:///{workdir / f'{name}.sqlite3'}"


def predict_times(client: httpx.Client, tasks: list[dict], repetitions: int) -> list[float]:
    """Seconds per ``/predict`` of ``tasks``, after warm-up requests that are not counted."""
    times_s = []
    for attempt in range(WARMUP_REQUESTS + repetitions):
        started = time.perf_counter()
        response = client.post("/predict", json={"tasks": tasks})
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        if attempt >= WARMUP_REQUESTS:
            times_s.append(elapsed)
    return times_s


def letterboxed_batch(media_root: Path, tasks: list[dict], input_size: int) -> torch.Tensor:
    """(N, 1, S, S): the frames of ``tasks`` as the network sees them."""
    inputs = []
    for task in tasks:
        relative = task["data"]["image"].split("?d=", 1)[1]
        gray = cv2.imread(str(media_root / relative), cv2.IMREAD_GRAYSCALE)
        letterbox = Letterbox(gray.shape[0], gray.shape[1], input_size)
        inputs.append(letterbox.to_input(normalise_frame(gray)))
    return torch.stack(inputs)


@torch.inference_mode()
def forward_times(network: torch.nn.Module, batch: torch.Tensor, repetitions: int) -> list[float]:
    """Seconds per bare forward pass of ``batch`` through ``network``, after warm-up."""
    times_s = []
    for attempt in range(WARMUP_REQUESTS + repetitions):
        started = time.perf_counter()
        network(batch)
        if attempt >= WARMUP_REQUESTS:
            times_s.append(time.perf_counter() - started)
    return times_s


def floor_latency(store: ModelStore, media_root: Path, tasks: list[dict]) -> dict:
    """The bare forward pass per batch size, keyed ``"1"`` and ``"32"``."""
    model = store.load_champion()
    floors = {}
    for size, repetitions in FLOOR_REPETITIONS.items():
        batch = letterboxed_batch(media_root, tasks[:size], model.spec.input_size)
        floors[str(size)] = latency_summary(forward_times(model.network, batch, repetitions))
    return floors


def backend_latency(backend: Backend, tasks: list[dict]) -> dict:
    """``/predict`` latency per batch size, keyed ``"1"`` and ``"32"``."""
    return {
        str(size): latency_summary(predict_times(backend.client, tasks[:size], repetitions))
        for size, repetitions in REPETITIONS.items()
    }


def regions_per_frame(backend: Backend, task: dict) -> int:
    """Result regions of one frame: brush RLE encoding grows with the painted area."""
    response = backend.client.post("/predict", json={"tasks": [task]})
    return len(response.json()["results"][0]["result"])


def over_floor(latency: dict, floors: dict) -> dict:
    """Backend over floor, per batch size and percentile."""
    return {
        size: {q: ratio(latency[size][q], floors[size][q]) for q in ("p50_ms", "p95_ms")}
        for size in floors
    }


def concurrent_load(backend: Backend, task: dict) -> dict:
    """CLIENTS threads, each with its own connection, sending REQUESTS_PER_CLIENT requests."""
    outcomes: list[bool] = []
    lock = threading.Lock()

    def client_loop() -> None:
        with httpx.Client(base_url=backend.server.url, auth=(USER, PASSWORD), timeout=300) as c:
            for _ in range(REQUESTS_PER_CLIENT):
                try:
                    ok = c.post("/predict", json={"tasks": [task]}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    outcomes.append(ok)

    threads = [threading.Thread(target=client_loop) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall_s = time.perf_counter() - started
    return {
        "clients": CLIENTS,
        "requests": len(outcomes),
        "errors": outcomes.count(False),
        "wall_s": round(wall_s, 3),
        "requests_per_s": round(len(outcomes) / wall_s, 2),
    }


def webhook(client: httpx.Client, task_id: int) -> None:
    payload = {
        "action": "ANNOTATION_CREATED",
        "project": {"id": 1},
        "task": {"id": task_id},
        "annotation": {"id": 10_000 + task_id, "task": task_id},
    }
    headers = {"X-Webhook-Secret": WEBHOOK_SECRET}
    client.post("/webhook", json=payload, headers=headers, auth=None).raise_for_status()


def serving_version(client: httpx.Client) -> str:
    response = client.post("/setup", json={"project": "1.1700000000"})
    response.raise_for_status()
    return response.json()["model_version"]


def wait_for_new_version(client: httpx.Client, old: str) -> tuple[str | None, float]:
    """Polls ``/setup`` until it answers a version other than ``old``; (version, when)."""
    deadline = time.perf_counter() + SETUP_TIMEOUT_S
    while time.perf_counter() < deadline:
        version = serving_version(client)
        if version != old:
            return version, time.perf_counter()
        time.sleep(SETUP_POLL_S)
    return None, time.perf_counter()


def make_worker(url: str, store: ModelStore, epochs: int):
    """The training worker on the backend's database, with phantom annotations as its source."""
    sys.path.insert(0, str(REPO_ROOT))
    from annotation_backend.state import make_engine, make_session_factory
    from annotation_backend.worker import Worker
    from tests.phantom_annotations import PhantomSource
    from training.finetune import FinetuneConfig

    sessions = make_session_factory(make_engine(url))
    config = FinetuneConfig(epochs=epochs, batch_size=4)
    return Worker(sessions, store, PhantomSource(), config)


def correction_to_serving(workdir: Path, epochs: int) -> dict:
    """Seconds from the N-th annotation webhook to ``/setup`` answering the new champion."""
    store = store_with_champion(workdir / "retrain-models", zero_weights=True)
    backend = start(workdir, "retrain", store, passes=0)
    try:
        old = serving_version(backend.client)
        for task_id in range(1, RETRAIN_EVERY_N):
            webhook(backend.client, task_id)
        worker = make_worker(database_url(workdir, "retrain"), store, epochs)
        sent = time.perf_counter()
        webhook(backend.client, RETRAIN_EVERY_N)
        claimed = time.perf_counter()
        run = worker.run_once()
        trained = time.perf_counter()
        new, served = wait_for_new_version(backend.client, old)
    finally:
        backend.stop()
    return {
        "events": RETRAIN_EVERY_N,
        "epochs": epochs,
        "run_status": None if run is None else str(run.status.value),
        "run_log": None if run is None else run.log,
        "old_version": old,
        "new_version": new,
        "queueing_s": round(claimed - sent, 3),
        "training_and_gate_s": round(trained - claimed, 3),
        "promotion_to_serving_s": round(served - trained, 3),
        "total_s": round(served - sent, 3),
    }


def latency_phase(workdir: Path) -> dict:
    """Both uncertainty settings against the same store, frames and floor."""
    tasks = write_frames(workdir / "media", BATCH_FRAMES)
    store = store_with_champion(workdir / "models")
    floors = floor_latency(store, workdir / "media", tasks)
    results = {"floor": floors}
    for passes in (8, 0):
        backend = start(workdir, f"passes-{passes}", store, passes)
        try:
            latency = backend_latency(backend, tasks)
            results[f"passes_{passes}"] = {
                "latency": latency,
                "over_floor": over_floor(latency, floors),
            }
            results["regions_per_frame"] = regions_per_frame(backend, tasks[0])
            if passes == 8:
                results["concurrency"] = concurrent_load(backend, tasks[0])
        finally:
            backend.stop()
    results["uncertainty_cost"] = over_floor(
        results["passes_8"]["latency"], results["passes_0"]["latency"]
    )
    return results


def table(results: dict) -> str:
    """The figures as aligned text lines."""
    lines = [f"{'measure':<44} {'p50':>10} {'p95':>10}"]
    for size in ("1", "32"):
        lines.append(_row(f"floor forward, {size} frame(s) [ms]", results["floor"][size]))
        for passes in (8, 0):
            entry = results[f"passes_{passes}"]
            lines.append(_row(f"/predict {size}, {passes} passes [ms]", entry["latency"][size]))
            lines.append(_row("  ratio backend/floor", entry["over_floor"][size]))
        lines.append(_row(f"ratio 8 passes / 0 passes, {size}", results["uncertainty_cost"][size]))
    load = results["concurrency"]
    lines.append(
        f"concurrency: {load['clients']} clients, {load['requests']} requests, "
        f"{load['errors']} errors, {load['requests_per_s']} req/s ({load['wall_s']} s)"
    )
    retrain = results["retrain"]
    lines.append(
        f"correction->serving ({retrain['old_version']}->{retrain['new_version']}, "
        f"{retrain['run_status']}): queueing {retrain['queueing_s']} s, training+gate "
        f"{retrain['training_and_gate_s']} s, promotion->serving "
        f"{retrain['promotion_to_serving_s']} s, total {retrain['total_s']} s"
    )
    return "\n".join(lines)


def _row(label: str, figures: dict) -> str:
    p50 = figures.get("p50_ms")
    p95 = figures.get("p95_ms")
    return f"{label:<44} {p50!s:>10} {p95!s:>10}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs of the worker")
    arguments = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="predict-bench-") as scratch:
        workdir = arguments.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        results = latency_phase(workdir)
        results["retrain"] = correction_to_serving(workdir, arguments.epochs)
    results["torch_threads"] = torch.get_num_threads()
    results["run_time_s"] = round(time.perf_counter() - started, 1)
    print(table(results))
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"run time {results['run_time_s']} s; written to {RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
