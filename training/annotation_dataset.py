"""Annotated Label Studio frames as network-ready tensors, split by clip before any augmentation.

Frames of one clip are strongly correlated, so a clip is always wholly on one side of the split,
and the split file (``training.splits``) says which side. Frames of test clips are left out
entirely: never trained on, never used to choose a model.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from training.annotations import FrameAnnotation
from training.model import Letterbox, ModelSpec, normalise_frame
from training.splits import ClipRef, Split


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
    view: str = "unknown"
    """The project's view of the task (``long_axis``, ``short_axis`` or ``unknown``)."""
    infant_id: str | None = None
    """The pseudonymous infant, when the clip's source said who it was."""


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


def clip_refs(frames: Iterable[AnnotatedFrame]) -> list[ClipRef]:
    """One reference per clip, for the split file."""
    refs = {f.clip_id: ClipRef(f.clip_id, f.view, f.infant_id) for f in frames}
    return [refs[clip_id] for clip_id in sorted(refs)]


def split_frames(
    frames: Iterable[AnnotatedFrame], split: Split
) -> tuple[list[AnnotatedFrame], list[AnnotatedFrame]]:
    """(training frames, validation frames) by the side of each frame's clip; frames of test
    clips, and of clips the split does not hold, are on neither side."""
    frames = list(frames)
    training = [f for f in frames if f.clip_id in split.training]
    validation = [f for f in frames if f.clip_id in split.validation]
    return training, validation


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
