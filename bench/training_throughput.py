"""Training throughput against the bare forward and backward pass, and peak memory.

    .venv/bin/python bench/training_throughput.py [--clips 4] [--frames-per-clip 16] [--epochs 2]

Both figures are taken in this one run on the same phantom frames and network, so that their
ratio holds on a shared, noisy machine:

- bare: forward, Dice plus cross-entropy, backward and an optimiser step on one fixed batch
  already in memory, repeated; no augmentation, no batch assembly;
- training: ``training.loop.fit`` as training runs it (per-sample augmentation with its own
  seed, batch assembly, the same steps), without validation.

The ratio training / bare says how much of the training time is the network's own work. Peak
memory is the process's peak resident set (and the GPU's peak allocation on a GPU).
"""

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch
from monai.losses import DiceCELoss
from monai.utils import set_determinism

from training.loop import FitConfig, fit
from training.model import NETWORK_SIZES, build_network
from training.phantom_dataset import phantom_clip_samples, stack

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_PATH = REPO_ROOT / "bench" / "results" / "training_throughput.json"


def bare_frames_per_second(network, images, masks, batch_size: int, steps: int) -> float:
    loss_fn = DiceCELoss(sigmoid=True)
    optimiser = torch.optim.AdamW(network.parameters(), lr=1e-3)
    x, y = images[:batch_size], masks[:batch_size]
    network.train()
    for _ in range(2):
        optimiser.zero_grad()
        loss_fn(network(x), y).backward()
        optimiser.step()
    started = time.perf_counter()
    for _ in range(steps):
        optimiser.zero_grad()
        loss_fn(network(x), y).backward()
        optimiser.step()
    return batch_size * steps / (time.perf_counter() - started)


def peak_resident_mib() -> float:
    """The process's peak resident set so far; ru_maxrss is in KiB on Linux."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames-per-clip", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--network", default="cpu", choices=sorted(NETWORK_SIZES))
    arguments = parser.parse_args(argv)
    set_determinism(seed=0)
    spec = NETWORK_SIZES[arguments.network]
    clips = [
        phantom_clip_samples(s, arguments.frames_per_clip, spec) for s in range(arguments.clips)
    ]
    images, masks = stack(clips)
    memory_before = peak_resident_mib()

    steps = max(4, len(images) * arguments.epochs // arguments.batch_size)
    bare = bare_frames_per_second(build_network(spec), images, masks, arguments.batch_size, steps)
    config = FitConfig(epochs=arguments.epochs, batch_size=arguments.batch_size)
    started = time.perf_counter()
    fit(build_network(spec), (images, masks), None, config, spec.structures)
    trained = len(images) * arguments.epochs / (time.perf_counter() - started)

    results = {
        "network": arguments.network,
        "input_size_px": spec.input_size,
        "frames": len(images),
        "epochs": arguments.epochs,
        "batch_size": arguments.batch_size,
        "threads": torch.get_num_threads(),
        "bare_frames_per_s": round(bare, 1),
        "training_frames_per_s": round(trained, 1),
        "training_over_bare": round(trained / bare, 3),
        "peak_resident_mib": round(peak_resident_mib(), 1),
        "resident_mib_before_training": round(memory_before, 1),
    }
    if torch.cuda.is_available():
        results["peak_gpu_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(results, indent=2) + "\n")
    json.dump(results, sys.stdout, indent=2)
    print(
        f"\ntraining runs at {results['training_over_bare']:.0%} of the bare forward+backward "
        f"speed ({trained:.1f} vs {bare:.1f} frames/s); peak memory "
        f"{results['peak_resident_mib']:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
