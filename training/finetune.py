"""Fine-tuning the champion on expert annotations, validated on clips it was not tuned on."""

import logging
from dataclasses import asdict, dataclass

import torch
from monai.utils import set_determinism

from training.annotation_dataset import AnnotationSamples
from training.loop import FitConfig, fit, validation_dice
from training.model import ModelSpec, build_network
from training.store import ModelStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneConfig(FitConfig):
    """Few epochs at a lower rate than training from scratch: the champion is the start."""

    epochs: int = 5
    batch_size: int = 8
    learning_rate: float = 5e-4


@dataclass(frozen=True)
class FinetuneMetrics:
    """Validation Dice per structure (structures absent from validation are left out) and
    its mean over those structures; NaN-free. ``epochs`` actually run."""

    validation_dice: dict[str, float]
    mean_validation_dice: float
    epochs: int
    training_time_s: float


def finetune_from_champion(
    store: ModelStore,
    samples: AnnotationSamples,
    validation: AnnotationSamples,
    config: FinetuneConfig,
) -> tuple[str, FinetuneMetrics]:
    """Fine-tunes a copy of the champion on ``samples`` (augmented) and saves it as a new version.

    The champion pointer is unchanged: the new version is a candidate until promoted. Its
    metadata records the parent version, the data snapshot (task, annotation and clip ids of
    both sides) and the metrics. Raises ModelNotFound when the store has no champion.
    """
    set_determinism(seed=config.seed)
    champion = store.load_champion()
    network = build_network(champion.spec)
    network.load_state_dict(champion.network.state_dict())
    result = fit(
        network,
        (samples.images, samples.masks),
        (validation.images, validation.masks),
        config,
        champion.spec.structures,
    )
    structures = present_structures(validation.masks, champion.spec)
    all_dice = validation_dice(
        network, validation.images, validation.masks, champion.spec.structures
    )
    dice = {key: all_dice.get(key, 0.0) for key in structures}
    metrics = FinetuneMetrics(
        validation_dice=dice,
        mean_validation_dice=mean_dice(dice),
        epochs=result.epochs,
        training_time_s=result.training_time_s,
    )
    metadata = _metadata(champion.version, samples, validation)
    metadata.update(
        asdict(metrics), best_epoch=result.best_epoch, history=result.history, config=asdict(config)
    )
    version = store.save(network, champion.spec, metadata)
    logger.info(
        "fine-tuned model %s from %s in %.0f s, validation Dice %s",
        version,
        champion.version,
        metrics.training_time_s,
        dice,
    )
    return version, metrics


def present_structures(masks: torch.Tensor, spec: ModelSpec) -> tuple[str, ...]:
    """Keys of the structures painted in at least one of ``masks`` (N, C, S, S).

    ``validation_dice`` gives 0.0, not NaN, for a structure no mask holds (MONAI's reduction
    turns an all-NaN column into 0), so absent structures are dropped by this list instead.
    """
    painted = masks.flatten(2).amax(dim=(0, 2)) > 0
    return tuple(key for key, found in zip(spec.structures, painted.tolist()) if found)


def mean_dice(dice: dict[str, float]) -> float:
    """Mean over the structures ``dice`` holds; 0.0 when it holds none."""
    return round(sum(dice.values()) / len(dice), 4) if dice else 0.0


def _metadata(parent: str, samples: AnnotationSamples, validation: AnnotationSamples) -> dict:
    return {
        "trained_on": "annotations",
        "parent_version": parent,
        "data_snapshot": {"training": samples.snapshot(), "validation": validation.snapshot()},
    }
