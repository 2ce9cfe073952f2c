"""The training loop shared by training from scratch and fine-tuning, on one process or many.

One process trains on the whole batch. Under ``torchrun`` (``WORLD_SIZE`` > 1) every process
takes its share of each batch and DistributedDataParallel averages the gradients, so the
sequence of updates is that of one process with the same batch size: the batch order comes from
the seed and the epoch, and each sample's augmentation from the seed, the epoch and the sample's
index, never from the process that happens to draw it. Process 0 validates, keeps the weights of
the best validation epoch and is the only one that saves.
"""

import copy
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from monai.losses import DiceCELoss
from monai.metrics import compute_dice
from monai.transforms import (
    Compose,
    MapTransform,
    RandAdjustContrastd,
    RandAffined,
    RandGaussianNoised,
    RandomizableTransform,
    RandScaleIntensityd,
)
from monai.utils import convert_to_tensor
from torch.nn.parallel import DistributedDataParallel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitConfig:
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 3e-3
    time_budget_s: float | None = None
    """Stop early after this many seconds; None trains every epoch, so that the model does not
    depend on how busy the machine is."""
    seed: int = 0


@dataclass
class FitResult:
    epochs: int
    """Epochs actually run."""
    best_epoch: int | None
    """The epoch whose weights were kept (best mean validation Dice); None without validation,
    in which case the last epoch's weights are kept."""
    validation_dice: dict[str, float]
    """Per structure, of the kept weights; empty without validation or off process 0."""
    history: list[dict] = field(default_factory=list)
    """Per epoch: ``epoch``, ``loss`` (mean over all processes), ``time_s`` and, on process 0
    with validation, ``validation_mean_dice``."""
    training_time_s: float = 0.0


@dataclass(frozen=True)
class Distributed:
    """This process's place among ``torchrun``'s processes."""

    rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls) -> "Distributed | None":
        """Joins the process group when started by torchrun with more than one process: NCCL on
        GPUs, gloo on CPUs. None for a single process."""
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return None
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return cls(dist.get_rank(), dist.get_world_size())

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


class RandSpeckleNoised(RandomizableTransform, MapTransform):
    """Multiplicative speckle, as coherent ultrasound imaging makes it: each pixel is scaled by a
    gamma-distributed factor of mean 1 whose number of looks (fewer looks, stronger speckle) is
    drawn per sample from ``looks``. Values stay in [0, 1]."""

    def __init__(self, keys, prob: float = 0.3, looks: tuple[float, float] = (4.0, 20.0)):
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        self.looks = looks
        self._looks = looks[1]

    def randomize(self, data=None) -> None:
        super().randomize(None)
        self._looks = self.R.uniform(*self.looks)

    def __call__(self, data):
        sample = dict(data)
        self.randomize()
        if not self._do_transform:
            return sample
        for key in self.key_iterator(sample):
            image = sample[key]
            factor = self.R.gamma(self._looks, 1.0 / self._looks, size=tuple(image.shape))
            sample[key] = (image * torch.as_tensor(factor.astype(np.float32))).clamp(0.0, 1.0)
        return sample


def augmentation() -> Compose:
    """Applied to training samples only, after the split. Gain, gamma, speckle, a little noise,
    rotation up to 5 degrees, scale by up to 10% and a shift; no flips: head-to-foot order
    matters in the long axis, and a mirrored short axis is not an anatomy we see."""
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
            RandSpeckleNoised("image", prob=0.3),
            RandGaussianNoised("image", std=0.02, prob=0.3),
        ]
    )


def fit(
    network: torch.nn.Module,
    training: tuple[torch.Tensor, torch.Tensor],
    validation: tuple[torch.Tensor, torch.Tensor] | None,
    config: FitConfig,
    structures: tuple[str, ...],
    distributed: Distributed | None = None,
    augment: Callable[[], Compose] = augmentation,
) -> FitResult:
    """Trains ``network`` in place on ``training`` (images (N, 1, S, S), masks (N, C, S, S)) with
    Dice plus cross-entropy and AdamW on a cosine schedule; see the module's docstring for how
    several processes share the work. ``network`` ends with the kept weights."""
    images, masks = training
    device = _device(distributed)
    network.to(device)
    model = (
        DistributedDataParallel(network, device_ids=[device] if device.type == "cuda" else None)
        if distributed
        else network
    )
    loss_fn = DiceCELoss(sigmoid=True)
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)
    transforms = augment()
    rank, world = (distributed.rank, distributed.world_size) if distributed else (0, 1)
    started = time.monotonic()
    history: list[dict] = []
    best: tuple[float, int, dict] | None = None
    epochs_run = 0
    for epoch in range(1, config.epochs + 1):
        network.train()
        losses = []
        for batch in _global_batches(len(images), config, epoch, world):
            mine = batch[rank::world]
            pairs = [
                _augmented(transforms, images[i], masks[i], _sample_seed(config.seed, epoch, i))
                for i in mine.tolist()
            ]
            x = torch.stack([p["image"] for p in pairs]).to(device)
            y = torch.stack([p["mask"] for p in pairs]).to(device)
            optimiser.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        scheduler.step()
        epochs_run = epoch
        record = {
            "epoch": epoch,
            "loss": round(_mean_over_processes(sum(losses) / len(losses), distributed), 5),
        }
        if validation is not None and rank == 0:
            dice = validation_dice(network, *validation, structures)
            mean = _mean(dice)
            record["validation_mean_dice"] = round(mean, 4)
            if best is None or mean > best[0]:
                best = (mean, epoch, copy.deepcopy(network.state_dict()))
        elapsed = time.monotonic() - started
        record["time_s"] = round(elapsed, 1)
        history.append(record)
        logger.info("epoch %d/%d %s", epoch, config.epochs, record)
        if _out_of_time(config, elapsed, distributed):
            logger.warning(
                "training stopped at epoch %d: time budget of %.0f s spent",
                epoch,
                config.time_budget_s,
            )
            break
    if best is not None:
        network.load_state_dict(best[2])
    network.to("cpu")
    kept_dice = {}
    if validation is not None and rank == 0:
        kept_dice = validation_dice(network, *validation, structures)
    return FitResult(
        epochs=epochs_run,
        best_epoch=best[1] if best else None,
        validation_dice=kept_dice,
        history=history,
        training_time_s=round(time.monotonic() - started, 1),
    )


@torch.inference_mode()
def validation_dice(network, images, masks, structures: tuple[str, ...]) -> dict[str, float]:
    """Mean Dice per structure over the frames where the expert mask is not empty; a structure
    absent from every validation frame is left out (MONAI would report it as 0).

    Uses MONAI's functional ``compute_dice``: its ``DiceMetric`` gathers from every process when
    a process group exists, and here only process 0 validates."""
    network.eval()
    device = next(network.parameters()).device
    scores = []
    for start in range(0, len(images), 32):
        logits = network(images[start : start + 32].to(device))
        truth = masks[start : start + 32].to(device)
        predicted = (torch.sigmoid(logits) > 0.5).float()
        scores.append(compute_dice(predicted, truth, include_background=True, ignore_empty=True))
    per_frame = torch.cat(scores).cpu()
    return {
        key: round(column[~column.isnan()].mean().item(), 4)
        for key, column in zip(structures, per_frame.T)
        if not column.isnan().all()
    }


def _global_batches(n: int, config: FitConfig, epoch: int, world: int) -> list[torch.Tensor]:
    """The epoch's batches of sample indices, the same in every process. With several processes
    each batch is cut to a multiple of their number, so that every process gets an equal share."""
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    order = torch.randperm(n, generator=generator)
    batches = [order[i : i + config.batch_size] for i in range(0, n, config.batch_size)]
    if world > 1:
        batches = [b[: len(b) - len(b) % world] for b in batches]
        batches = [b for b in batches if len(b)]
        if not batches:
            raise ValueError(f"{n} training samples cannot be shared by {world} processes")
    return batches


def _augmented(transforms: Compose, image, mask, seed: int) -> dict:
    transforms.set_random_state(seed=seed)
    pair = transforms({"image": image, "mask": mask})
    # Plain tensors: MONAI's MetaTensor tracks metadata through every network operation.
    return {key: convert_to_tensor(value, track_meta=False) for key, value in pair.items()}


def _sample_seed(seed: int, epoch: int, index: int) -> int:
    return (seed * 1_000_003 + epoch * 100_019 + index) % 2**32


def _device(distributed: Distributed | None) -> torch.device:
    if not torch.cuda.is_available():
        return torch.device("cpu")
    index = int(os.environ.get("LOCAL_RANK", "0")) if distributed else 0
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def _mean_over_processes(value: float, distributed: Distributed | None) -> float:
    if distributed is None:
        return value
    total = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(total)
    return total.item() / distributed.world_size


def _out_of_time(config: FitConfig, elapsed: float, distributed: Distributed | None) -> bool:
    """Process 0's clock decides, so that every process stops after the same epoch."""
    if config.time_budget_s is None:
        return False
    stop = torch.tensor([int(elapsed > config.time_budget_s)])
    if distributed is not None:
        dist.broadcast(stop, src=0)
    return bool(stop.item())


def _mean(dice: dict[str, float]) -> float:
    return sum(dice.values()) / len(dice) if dice else 0.0
