"""The training entry point under torchrun with two CPU processes (gloo) against one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
ARGS = ["phantom", "--clips", "8", "--frames-per-clip", "8", "--epochs", "6", "--seed", "3"]


def train(store: Path, processes: int) -> dict:
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    if processes == 1:
        command = [sys.executable, "-m", "training.fit"]
    else:
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={processes}", "-m", "training.fit",
        ]  # fmt: skip
    subprocess.run(
        [*command, *ARGS, "--store", str(store)],
        cwd=REPO,
        env=environment,
        check=True,
        timeout=600,
        capture_output=True,
    )
    return json.loads((store / "v0001" / "model.json").read_text())


def test_two_processes_train_the_model_one_process_trains(tmp_path):
    one = train(tmp_path / "one", 1)
    two = train(tmp_path / "two", 2)

    assert two["processes"] == 2 and one["processes"] == 1
    assert two["data"] == one["data"], "both runs must see the same clips on each side"
    assert [r["epoch"] for r in two["history"]] == [r["epoch"] for r in one["history"]]
    first_loss, last_loss = one["history"][0]["loss"], one["history"][-1]["loss"]
    assert last_loss < first_loss, "the short run must learn something to compare"
    for key, dice in one["validation_dice"].items():
        assert abs(two["validation_dice"][key] - dice) < 0.02, key
    for ours, theirs in zip(one["history"], two["history"]):
        assert abs(ours["loss"] - theirs["loss"]) < 0.01
    weights_one = torch.load(tmp_path / "one" / "v0001" / "model.pt")
    weights_two = torch.load(tmp_path / "two" / "v0001" / "model.pt")
    largest = max((weights_one[k] - weights_two[k]).abs().max().item() for k in weights_one)
    assert largest < 0.05, "the same updates, up to the order of floating-point sums"
