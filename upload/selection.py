"""Which frames of a clip become tasks. The same settings always pick the same frames."""

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from upload.imaging_region import to_gray

CHANGE_GRID_PX = 64
"""Frames are compared on a (64, 64) thumbnail, so noise and size barely matter."""


class SelectionMode(StrEnum):
    ALL = "all"
    EVERY_KTH = "every"
    CONTENT_CHANGE = "change"


@dataclass(frozen=True)
class FrameSelection:
    mode: SelectionMode = SelectionMode.EVERY_KTH
    step: int = 10
    """With EVERY_KTH: keep frames 0, step, 2 * step, ..."""
    change_threshold: float = 6.0
    """With CONTENT_CHANGE: mean absolute grey-level difference from the last kept frame."""
    max_frames: int = 200
    """Per clip; frames after the limit are dropped."""

    def __post_init__(self) -> None:
        if self.step < 1 or self.max_frames < 1 or self.change_threshold < 0:
            raise ValueError("step and max_frames must be >= 1 and change_threshold >= 0")

    def describe(self) -> str:
        """A stable text of the settings: a clip ingested with other settings is ingested again."""
        return f"{self.mode.value}:{self.step}:{self.change_threshold}:{self.max_frames}"


class FrameSelector:
    """Decides frame by frame, in decoding order, keeping no more than one thumbnail."""

    def __init__(self, selection: FrameSelection):
        self.selection = selection
        self.kept = 0
        self._last_thumbnail: np.ndarray | None = None

    def keep(self, index: int, pixels: np.ndarray) -> bool:
        if self.kept >= self.selection.max_frames:
            return False
        if self.selection.mode is SelectionMode.ALL:
            chosen = True
        elif self.selection.mode is SelectionMode.EVERY_KTH:
            chosen = index % self.selection.step == 0
        else:
            chosen = self._changed_enough(pixels)
        self.kept += chosen
        return chosen

    def _changed_enough(self, pixels: np.ndarray) -> bool:
        grid = (CHANGE_GRID_PX, CHANGE_GRID_PX)
        thumbnail = cv2.resize(to_gray(pixels), grid, interpolation=cv2.INTER_AREA).astype(
            np.float32
        )
        if self._last_thumbnail is not None:
            difference = float(np.abs(thumbnail - self._last_thumbnail).mean())
            if difference < self.selection.change_threshold:
                return False
        self._last_thumbnail = thumbnail
        return True
