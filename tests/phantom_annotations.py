"""Annotated frames without Label Studio: phantom frames with their ground-truth masks, and
tiny networks whose Dice is known in advance."""

from functools import cache

import numpy as np
import torch

from label_config import VIEWS
from training.annotation_dataset import AnnotatedFrame
from training.annotations import FrameAnnotation
from training.model import ModelSpec, build_network
from training.phantom import generate_clip

TINY_SPEC = ModelSpec(input_size=64, channels=(4, 8, 16), strides=(2, 2), dropout=0.0)
FRAME_INDICES = (0, 15)
CLIP_SEEDS = (0, 1, 2, 3)


@cache
def _rendered(seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    clip = generate_clip(seed, VIEWS[seed % 2], duration_s=1.0, width_px=192, height_px=160)
    frame = clip.render(index)
    return frame.image, frame.masks


class PhantomSource:
    """An AnnotationSource over phantom clips; image URLs are ``phantom://<seed>/<index>``."""

    def __init__(self, seeds=CLIP_SEEDS, indices=FRAME_INDICES):
        self.seeds, self.indices = seeds, indices

    def annotated_frames(self) -> list[AnnotatedFrame]:
        return [self._frame(seed, index) for seed in self.seeds for index in self.indices]

    def load_gray(self, image_url: str) -> np.ndarray:
        seed, index = image_url.removeprefix("phantom://").split("/")
        return _rendered(int(seed), int(index))[0]

    def _frame(self, seed: int, index: int) -> AnnotatedFrame:
        image, masks = _rendered(seed, index)
        task_id = 1000 * (seed + 1) + index
        annotation = FrameAnnotation(
            task_id=task_id,
            annotator="user-1",
            masks={key: masks[c].astype(bool) for c, key in enumerate(TINY_SPEC.structures)},
            frame_shape_px=image.shape,
        )
        return AnnotatedFrame(
            task_id,
            task_id + 1,
            f"phantom-{seed}",
            index,
            f"phantom://{seed}/{index}",
            annotation,
            view=VIEWS[seed % 2],
        )


def constant_network(logit: float) -> torch.nn.Module:
    """Predicts ``logit`` everywhere: 0.0 paints nothing (Dice 0 on every present structure),
    5.0 paints everything (Dice above 0 wherever a structure is present)."""
    network = build_network(TINY_SPEC)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        biases = [p for name, p in network.named_parameters() if name.endswith("bias")]
        biases[-1].fill_(logit)
    return network
