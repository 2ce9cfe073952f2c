"""Finding the part of a frame that shows the ultrasound image, and blanking everything else.

Burned-in text (names, dates, device menus) sits still while the image under a moving probe
changes from frame to frame. The imaging region is the bounding box of the largest area whose
pixels vary over time. Text drawn inside that box is not removed by this step.
"""

from dataclasses import dataclass

import cv2
import numpy as np

MOTION_THRESHOLD = 2.0
"""Temporal standard deviation (grey levels) above which a pixel counts as moving image."""

MIN_REGION_SHARE = 0.05


class NoImagingRegion(ValueError):
    """The frames do not change enough to tell the image from its surroundings."""


@dataclass(frozen=True)
class ImagingRegion:
    x0: int
    y0: int
    x1: int
    y1: int
    """Half-open pixel box."""

    def blank_outside(self, pixels: np.ndarray) -> np.ndarray:
        """A copy of ``pixels`` ((H, W) or (H, W, C)) with zeros outside the box."""
        blanked = np.zeros_like(pixels)
        blanked[self.y0 : self.y1, self.x0 : self.x1] = pixels[self.y0 : self.y1, self.x0 : self.x1]
        return blanked

    def blanked_share(self, height_px: int, width_px: int) -> float:
        kept = (self.x1 - self.x0) * (self.y1 - self.y0)
        return 1.0 - kept / float(height_px * width_px)


class MotionAccumulator:
    """Running per-pixel mean and variance of grayscale frames (Welford), one frame at a time."""

    def __init__(self) -> None:
        self.count = 0
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    def add(self, pixels: np.ndarray) -> None:
        gray = to_gray(pixels).astype(np.float32)
        if self._mean is None:
            self._mean = np.zeros_like(gray)
            self._m2 = np.zeros_like(gray)
        self.count += 1
        delta = gray - self._mean
        self._mean += delta / self.count
        self._m2 += delta * (gray - self._mean)

    def region(self) -> ImagingRegion:
        """The box around the largest moving area; raises NoImagingRegion if nothing moves."""
        if self.count < 2 or self._m2 is None:
            raise NoImagingRegion("fewer than two frames: motion cannot locate the image")
        std = np.sqrt(self._m2 / (self.count - 1))
        moving = (std > MOTION_THRESHOLD).astype(np.uint8)
        moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        return _largest_box(moving, "no pixel changes over the clip")


TEXTURE_THRESHOLD = 4.0
"""Local standard deviation (grey levels, 7 x 7 px) above which a pixel counts as speckle."""


def texture_region(pixels: np.ndarray) -> ImagingRegion:
    """For a single frame: the box around the largest speckled area.

    Thin lines of text are opened away, and text away from the image stays out of the box;
    text that touches the image is kept with it.
    """
    gray = to_gray(pixels).astype(np.float32)
    mean = cv2.blur(gray, (7, 7))
    local_std = np.sqrt(np.maximum(cv2.blur(gray * gray, (7, 7)) - mean * mean, 0.0))
    textured = (local_std > TEXTURE_THRESHOLD).astype(np.uint8)
    textured = cv2.morphologyEx(textured, cv2.MORPH_OPEN, np.ones((9, 9), np.uint8))
    box = _largest_box(textured, "no speckled area in the frame", close_px=1)
    # The 7 x 7 window marks 3 px beyond the speckle's edge on every side.
    return ImagingRegion(box.x0 + 3, box.y0 + 3, box.x1 - 3, box.y1 - 3)


def _largest_box(mask: np.ndarray, nothing_found: str, close_px: int = 15) -> ImagingRegion:
    """Box around the largest component once gaps narrower than ``close_px`` are closed."""
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((close_px, close_px), np.uint8))
    n_labels, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n_labels < 2:
        raise NoImagingRegion(nothing_found)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, area = stats[largest]
    if area < MIN_REGION_SHARE * mask.size:
        raise NoImagingRegion(f"the image area covers only {area / mask.size:.1%} of the frame")
    return ImagingRegion(int(x), int(y), int(x + w), int(y + h))


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """(H, W) uint8 from (H, W) or (H, W, 3) RGB."""
    if pixels.ndim == 2:
        return pixels
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
