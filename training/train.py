"""Training a segmentation model from scratch on phantom clips split by the phantom split file.

Clip ``phantom-<seed>`` is the phantom clip of that seed (even seeds long axis, odd short axis).
Its side (training, validation or test) comes from a split file in the model store, kept apart
from the split of real clips; test clips are never generated here.
"""

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from monai.utils import set_determinism

from label_config import VIEWS
from training.loop import Distributed, FitConfig, fit
from training.model import NETWORK_SIZES, ModelSpec, build_network
from training.phantom_dataset import phantom_clip_samples, stack
from training.splits import ClipRef, Split, SplitFile
from training.store import ModelStore

logger = logging.getLogger(__name__)

PHANTOM_SPLIT_FILE = "phantom-split.json"


@dataclass(frozen=True)
class PhantomTrainingConfig:
    clips: int = 12
    """Phantom clips (seeds 0 .. clips - 1), split about 60/20/20 by clip and view."""
    frames_per_clip: int = 24
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 3e-3
    time_budget_s: float | None = None
    seed: int = 0
    network: str = "cpu"
    """A key of ``training.model.NETWORK_SIZES``."""

    def fit_config(self) -> FitConfig:
        return FitConfig(
            self.epochs, self.batch_size, self.learning_rate, self.time_budget_s, self.seed
        )


def phantom_clip_id(seed: int) -> str:
    return f"phantom-{seed}"


def phantom_view(seed: int) -> str:
    return VIEWS[seed % 2]


def phantom_split(store_root: Path, seeds) -> Split:
    """The sides of the phantom clips ``seeds``; clips not seen before are added to the file."""
    refs = [ClipRef(phantom_clip_id(s), phantom_view(s)) for s in seeds]
    return SplitFile(Path(store_root) / PHANTOM_SPLIT_FILE).assign(refs)


def train_on_phantom(
    store: ModelStore, config: PhantomTrainingConfig, distributed: Distributed | None = None
) -> str | None:
    """Trains, saves a version with its metrics and data snapshot, and returns its name; with
    several processes only process 0 saves, and the others return None."""
    set_determinism(seed=config.seed)
    spec = NETWORK_SIZES[config.network]
    split = phantom_split(store.root, range(config.clips))
    sides = {
        side: sorted(seed for seed in range(config.clips) if phantom_clip_id(seed) in clip_ids)
        for side, clip_ids in (("training", split.training), ("validation", split.validation))
    }
    if not sides["training"] or not sides["validation"]:
        raise ValueError(f"{config.clips} phantom clips leave a side of the split empty: use more")
    clips = {
        side: [phantom_clip_samples(s, config.frames_per_clip, spec) for s in seeds]
        for side, seeds in sides.items()
    }
    data = {
        "source": "phantom",
        "split_file": PHANTOM_SPLIT_FILE,
        "training_clips": [phantom_clip_id(s) for s in sides["training"]],
        "validation_clips": [phantom_clip_id(s) for s in sides["validation"]],
        "frames_per_clip": config.frames_per_clip,
    }
    return train_and_save(
        store,
        spec,
        stack(clips["training"]),
        stack(clips["validation"]),
        config.fit_config(),
        distributed,
        "phantom",
        data,
        asdict(config),
    )


def train_and_save(
    store: ModelStore,
    spec: ModelSpec,
    training: tuple[torch.Tensor, torch.Tensor],
    validation: tuple[torch.Tensor, torch.Tensor],
    config: FitConfig,
    distributed: Distributed | None,
    trained_on: str,
    data: dict,
    settings: dict,
) -> str | None:
    """Trains a new network from scratch and saves it with its data snapshot ``data``, metrics,
    history and ``settings``; returns the version, or None off process 0 (which saves nothing)."""
    network = build_network(spec)
    result = fit(network, training, validation, config, spec.structures, distributed)
    if distributed is not None and not distributed.is_main:
        return None
    metadata = {
        "trained_on": trained_on,
        "data": data,
        "validation_dice": result.validation_dice,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "history": result.history,
        "training_time_s": result.training_time_s,
        "processes": distributed.world_size if distributed else 1,
        "config": settings,
    }
    version = store.save(network, spec, metadata)
    logger.info(
        "trained model %s on %s in %.0f s, validation Dice %s",
        version,
        trained_on,
        result.training_time_s,
        result.validation_dice,
    )
    return version
