"""Training a segmentation model on phantom clips, validated on clips it never saw."""

import logging
import math
import time
from dataclasses import asdict, dataclass

import torch
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from monai.transforms import (
    Compose,
    RandAdjustContrastd,
    RandAffined,
    RandGaussianNoised,
    RandScaleIntensityd,
)
from monai.utils import set_determinism

from training.model import ModelSpec, build_network
from training.phantom_dataset import phantom_clip_samples, stack
from training.store import ModelStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhantomTrainingConfig:
    training_clips: int = 10
    validation_clips: int = 2
    frames_per_clip: int = 24
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 3e-3
    time_budget_s: float | None = None
    """Stop early after this many seconds; None trains every epoch, so that the model
    does not depend on how busy the machine is."""
    seed: int = 0


def augmentation() -> Compose:
    """Applied to training samples only. No flips: head-to-foot order matters in long axis."""
    keys = ("image", "mask")
    return Compose(
        [
            RandAffined(
                keys,
                prob=0.7,
                rotate_range=0.09,
                scale_range=0.1,
                translate_range=(6, 6),
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            ),
            RandScaleIntensityd("image", factors=0.25, prob=0.5),
            RandAdjustContrastd("image", gamma=(0.7, 1.5), prob=0.5),
            RandGaussianNoised("image", std=0.03, prob=0.3),
        ]
    )


def train_on_phantom(store: ModelStore, config: PhantomTrainingConfig) -> str:
    """Train, save a version with its validation Dice, and return the version name."""
    set_determinism(seed=config.seed)
    spec = ModelSpec()
    n_clips = config.training_clips + config.validation_clips
    clips = [phantom_clip_samples(seed, config.frames_per_clip, spec) for seed in range(n_clips)]
    train_clips, validation_clips = clips[: config.training_clips], clips[config.training_clips :]
    network = build_network(spec)
    started = time.monotonic()
    epochs_run = _fit(network, stack(train_clips), config, started)
    dice = validation_dice(network, *stack(validation_clips), spec)
    metadata = {
        "trained_on": "phantom",
        "training_clip_seeds": [c.clip_seed for c in train_clips],
        "validation_clip_seeds": [c.clip_seed for c in validation_clips],
        "validation_dice": dice,
        "epochs": epochs_run,
        "training_time_s": round(time.monotonic() - started, 1),
        "config": asdict(config),
    }
    version = store.save(network, spec, metadata)
    logger.info(
        "trained model %s in %.0f s, validation Dice %s", version, metadata["training_time_s"], dice
    )
    return version


def _fit(network, train_set, config: PhantomTrainingConfig, started: float) -> int:
    images, masks = train_set
    loss_fn = DiceCELoss(sigmoid=True)
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)
    augment = augmentation()
    generator = torch.Generator().manual_seed(config.seed)
    for epoch in range(1, config.epochs + 1):
        network.train()
        order = torch.randperm(len(images), generator=generator)
        losses = []
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            pairs = [augment({"image": images[i], "mask": masks[i]}) for i in batch]
            x = torch.stack([p["image"].as_tensor() for p in pairs])
            y = torch.stack([p["mask"].as_tensor() for p in pairs])
            optimiser.zero_grad()
            loss = loss_fn(network(x), y)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        scheduler.step()
        elapsed = time.monotonic() - started
        logger.info(
            "epoch %d/%d loss %.4f time %.0f s",
            epoch,
            config.epochs,
            sum(losses) / len(losses),
            elapsed,
        )
        if config.time_budget_s is not None and elapsed > config.time_budget_s:
            logger.warning(
                "training stopped at epoch %d: time budget of %.0f s spent",
                epoch,
                config.time_budget_s,
            )
            return epoch
    return config.epochs


@torch.inference_mode()
def validation_dice(network, images, masks, spec: ModelSpec) -> dict[str, float]:
    """Mean Dice per structure over the frames where the expert mask is not empty; a structure
    absent from every validation frame is left out (MONAI would report it as 0)."""
    network.eval()
    metric = DiceMetric(include_background=True, reduction="mean_batch", ignore_empty=True)
    for start in range(0, len(images), 32):
        logits = network(images[start : start + 32])
        metric(y_pred=(torch.sigmoid(logits) > 0.5).float(), y=masks[start : start + 32])
    per_structure = metric.aggregate().tolist()
    present = masks.flatten(2).amax(dim=(0, 2)) > 0
    return {
        key: round(dice, 4)
        for key, dice, seen in zip(spec.structures, per_structure, present.tolist())
        if seen and not math.isnan(dice)
    }
