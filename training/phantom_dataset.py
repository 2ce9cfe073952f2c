"""Phantom clips as network-ready tensors, split by clip before any augmentation."""

from dataclasses import dataclass

import numpy as np
import torch

from label_config import VIEWS
from training.model import Letterbox, ModelSpec, normalise_frame
from training.phantom import generate_clip


@dataclass(frozen=True)
class ClipSamples:
    """Frames of one clip: images (N, 1, S, S) float32 in [0, 1], masks (N, C, S, S) float32."""

    clip_seed: int
    view: str
    images: torch.Tensor
    masks: torch.Tensor


def phantom_clip_samples(seed: int, frames_per_clip: int, spec: ModelSpec) -> ClipSamples:
    """Evenly spaced frames of the phantom clip ``seed``; even seeds long axis, odd short axis."""
    view = VIEWS[seed % 2]
    clip = generate_clip(seed, view)
    indices = np.linspace(0, len(clip) - 1, frames_per_clip).round().astype(int)
    images, masks = [], []
    for index in indices:
        frame = clip.render(int(index))
        letterbox = Letterbox(frame.image.shape[0], frame.image.shape[1], spec.input_size)
        images.append(letterbox.to_input(normalise_frame(frame.image)))
        masks.append(
            letterbox.to_input(torch.from_numpy(frame.masks.astype(np.float32)), "nearest")
        )
    return ClipSamples(seed, view, torch.stack(images), torch.stack(masks))


def stack(clips: list[ClipSamples]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.cat([c.images for c in clips]), torch.cat([c.masks for c in clips])
