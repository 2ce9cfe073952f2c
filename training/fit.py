"""Train a model: ``python -m training.fit phantom`` or ``python -m training.fit gold-standard``.

The same command runs on one CPU, one GPU, or several processes started by ``torchrun``
(``torchrun --nproc_per_node=2 -m training.fit phantom``; GPUs use NCCL, CPUs gloo). The new
version is saved in the model store; ``--promote`` also makes it the champion that serves.
"""

import logging
import os
from pathlib import Path

import typer

from training.gold_dataset import read_gold_standard
from training.loop import Distributed, FitConfig
from training.model import NETWORK_SIZES
from training.sources import (
    LABEL_STUDIO_URL,
    MEDIA_ROOT,
    S3_BUCKET,
    S3_ENDPOINT_URL,
    SPLIT_FILE,
    frame_loader,
)
from training.splits import SplitFile
from training.store import ModelStore
from training.train import PhantomTrainingConfig, train_on_phantom
from training.train_gold import train_on_gold_standard

app = typer.Typer(add_completion=False, help=__doc__)

STORE = typer.Option(Path("var/models"), help="The model store folder.")
NETWORK = typer.Option("cpu", help=f"Network size: {', '.join(NETWORK_SIZES)}.")
EPOCHS = typer.Option(30, min=1)
BATCH = typer.Option(16, min=1, help="Samples per update, over all processes together.")
RATE = typer.Option(3e-3, min=0.0)
BUDGET = typer.Option(None, help="Stop after the epoch that passes this many seconds.")
SEED = typer.Option(0)
PROMOTE = typer.Option(False, help="Make the new version the champion.")


@app.command()
def phantom(
    store: Path = STORE,
    clips: int = typer.Option(12, min=3, help="Phantom clips, split about 60/20/20 by clip."),
    frames_per_clip: int = typer.Option(24, min=1),
    epochs: int = EPOCHS,
    batch_size: int = BATCH,
    learning_rate: float = RATE,
    time_budget_s: float = BUDGET,
    seed: int = SEED,
    network: str = NETWORK,
    promote: bool = PROMOTE,
) -> None:
    """Train from scratch on synthetic phantom clips with pixel ground truth."""
    config = PhantomTrainingConfig(
        clips, frames_per_clip, epochs, batch_size, learning_rate, time_budget_s, seed, network
    )
    _check_network(network)
    _run(store, promote, lambda models, d: train_on_phantom(models, config, d))


@app.command("gold-standard")
def gold_standard(
    folder: Path = typer.Argument(..., help="A gold-standard export folder."),
    store: Path = STORE,
    split_file: Path = SPLIT_FILE,
    media_root: Path = MEDIA_ROOT,
    label_studio_url: str = LABEL_STUDIO_URL,
    s3_bucket: str = S3_BUCKET,
    s3_endpoint_url: str = S3_ENDPOINT_URL,
    epochs: int = EPOCHS,
    batch_size: int = BATCH,
    learning_rate: float = RATE,
    time_budget_s: float = BUDGET,
    seed: int = SEED,
    network: str = NETWORK,
    promote: bool = PROMOTE,
) -> None:
    """Train from scratch on the expert gold standard; the token for Label Studio's uploads is
    read from LABEL_STUDIO_API_TOKEN."""
    _check_network(network)
    frames = read_gold_standard(folder)
    loader = frame_loader(
        media_root,
        label_studio_url,
        os.environ.get("LABEL_STUDIO_API_TOKEN"),
        s3_bucket,
        s3_endpoint_url,
    )
    config = FitConfig(epochs, batch_size, learning_rate, time_budget_s, seed)
    splits = SplitFile(split_file or store / "split.json")

    def train(models: ModelStore, distributed: Distributed | None) -> str | None:
        return train_on_gold_standard(
            models,
            frames,
            splits,
            loader.load_gray,
            config,
            NETWORK_SIZES[network],
            distributed,
            folder,
        )

    try:
        _run(store, promote, train)
    finally:
        loader.close()


def _check_network(network: str) -> None:
    if network not in NETWORK_SIZES:
        raise typer.BadParameter(f"choose one of {', '.join(NETWORK_SIZES)}", param_hint="network")


def _run(store: Path, promote: bool, train) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    distributed = Distributed.from_environment()
    try:
        models = ModelStore(store)
        version = train(models, distributed)
    finally:
        if distributed is not None:
            distributed.close()
    if version is None:
        return
    if promote:
        models.promote(version)
    print(f"{version}{' (champion)' if promote else ''}: {models.root / version}")


if __name__ == "__main__":
    app()
