"""Annotated Label Studio frames as network-ready tensors, split by clip before any augmentation.

Frames of one clip are strongly correlated, so a clip is always wholly on one side of the split:
a stable hash of its ``clip_id`` decides whether it is a validation clip. Clips in the holdout
set are left out entirely: never trained on, never used to choose a model.
"""

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from training.annotations import FrameAnnotation
from training.model import Letterbox, ModelSpec, normalise_frame

DEFAULT_VALIDATION_FRACTION = 0.2


class DatasetError(ValueError):
    """The annotated frames cannot make a usable training or validation set."""


@dataclass(frozen=True)
class AnnotatedFrame:
    """One annotator's annotation of one task's frame, with where the frame comes from.

    ``annotation_id`` is Label Studio's id, or None for annotations that have none (tests).
    """

    task_id: int
    annotation_id: int | None
    clip_id: str
    frame_index: int
    image_url: str
    annotation: FrameAnnotation


@dataclass(frozen=True)
class AnnotationSamples:
    """images (N, 1, S, S) float32 in [0, 1]; masks (N, C, S, S) float32 in {0, 1}, channels in
    the order of ``ModelSpec.structures``; the ids say which frame each sample came from."""

    images: torch.Tensor
    masks: torch.Tensor
    task_ids: tuple[int, ...]
    annotation_ids: tuple[int, ...]
    clip_ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.task_ids)

    def snapshot(self) -> dict:
        """Which Label Studio tasks, annotations and clips the samples hold (sorted, unique)."""
        return {
            "task_ids": sorted(set(self.task_ids)),
            "annotation_ids": sorted(set(self.annotation_ids)),
            "clip_ids": sorted(set(self.clip_ids)),
        }


def is_validation_clip(clip_id: str, validation_fraction: float) -> bool:
    """True for about ``validation_fraction`` of clip ids; the same answer on every run."""
    return _clip_position(clip_id) < validation_fraction


def split_by_clip(
    frames: Iterable[AnnotatedFrame],
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    holdout_clip_ids: frozenset[str] = frozenset(),
) -> tuple[list[AnnotatedFrame], list[AnnotatedFrame]]:
    """(training frames, validation frames); holdout clips appear in neither.

    With two or more clips, each side gets at least one: when the hash sends every clip to one
    side, the clip whose hash lies nearest the boundary crosses over.
    """
    kept = [frame for frame in frames if frame.clip_id not in holdout_clip_ids]
    validation_clips = {
        f.clip_id for f in kept if is_validation_clip(f.clip_id, validation_fraction)
    }
    clips = sorted({f.clip_id for f in kept}, key=_clip_position)
    if len(clips) >= 2 and not validation_clips:
        validation_clips = {clips[0]}
    elif len(clips) >= 2 and validation_clips == set(clips):
        validation_clips = set(clips[:-1])
    training = [f for f in kept if f.clip_id not in validation_clips]
    validation = [f for f in kept if f.clip_id in validation_clips]
    return training, validation


def _clip_position(clip_id: str) -> float:
    """Where the clip's hash falls in [0, 1); below the validation fraction means validation."""
    digest = hashlib.sha256(clip_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def build_samples(
    frames: list[AnnotatedFrame], load_gray: Callable[[str], np.ndarray], spec: ModelSpec
) -> AnnotationSamples:
    """Loads each frame (``load_gray``: image URL -> (H, W) uint8) and letterboxes it and its
    masks to the network's input. A structure that was not painted is an all-zero channel.

    Raises DatasetError for no frames, or a mask whose shape differs from its frame's.
    """
    if not frames:
        raise DatasetError("no annotated frames on this side of the split: annotate more clips")
    images, masks = [], []
    for frame in frames:
        gray = load_gray(frame.image_url)
        letterbox = Letterbox(gray.shape[0], gray.shape[1], spec.input_size)
        images.append(letterbox.to_input(normalise_frame(gray)))
        stacked = torch.from_numpy(structure_masks(frame, gray.shape, spec))
        masks.append(letterbox.to_input(stacked, "nearest"))
    return AnnotationSamples(
        images=torch.stack(images),
        masks=torch.stack(masks),
        task_ids=tuple(f.task_id for f in frames),
        annotation_ids=tuple(f.annotation_id for f in frames if f.annotation_id is not None),
        clip_ids=tuple(f.clip_id for f in frames),
    )


def structure_masks(frame: AnnotatedFrame, shape_px: tuple[int, int], spec: ModelSpec):
    """(C, H, W) float32 masks of ``frame`` in the order of ``spec.structures``."""
    stacked = np.zeros((len(spec.structures), *shape_px), np.float32)
    for channel, key in enumerate(spec.structures):
        mask = frame.annotation.masks.get(key)
        if mask is None:
            continue
        if mask.shape != tuple(shape_px):
            raise DatasetError(
                f"task {frame.task_id}: mask {key!r} is {mask.shape}, its frame is {shape_px}"
            )
        stacked[channel] = mask
    return stacked
