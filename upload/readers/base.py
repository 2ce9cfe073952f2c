"""What every reader returns: a header, frames of uint8 pixels, and ClipError for any failure."""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from upload.errors import ClipError

logger = logging.getLogger(__name__)

MAX_FRAME_PIXELS = 64 * 1024 * 1024
"""Largest frame (width x height) a reader accepts; a damaged header can declare far more."""

_MAX_REASON_CHARS = 300


@dataclass(frozen=True)
class ClipHeader:
    """What a clip's file declares about itself; sizes are those of the frames as returned."""

    declared_frames: int | None
    width_px: int
    height_px: int
    fps: float | None
    duration_s: float | None
    spacing_mm_per_px: float | None
    imaging_region: tuple[int, int, int, int] | None
    """(x0, y0, x1, y1), half-open, from DICOM Ultrasound Regions; None when not declared."""
    start_time_s: float | None = None
    """Presentation time of the clip's start in the container's own clock; None when undeclared.
    Frame times are relative to the first frame, so they start at 0 whatever this is."""


@dataclass(frozen=True)
class Frame:
    index: int
    """0, 1, 2, ... in the order returned, with no gaps."""
    time_s: float
    """Seconds since the first frame of the clip."""
    pixels: np.ndarray
    """(H, W) uint8 grayscale or (H, W, 3) uint8 RGB, oriented as the clip is meant to be seen."""


class Clip:
    """A clip file opened for streaming; ``frames()`` may be called more than once.

    ``frames()`` raises only ClipError: whatever a decoding library raises is turned into one
    naming the file and the reason.
    """

    kind = "clip"

    def __init__(self, path: Path, header: ClipHeader):
        self.path = path
        self.header = header

    def frames(self) -> Iterator[Frame]:
        try:
            yield from self._decode()
        except ClipError:
            raise
        except Exception as error:  # decoders raise many types on damaged data
            raise ClipError(self.path, f"{self.kind} decoding failed: {describe(error)}") from error

    def _decode(self) -> Iterator[Frame]:
        raise NotImplementedError


def describe(error: BaseException) -> str:
    """``'TypeName: message'``, cut to a few hundred characters."""
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 3] + "..."


def check_frame_size(path: Path, width_px: int, height_px: int) -> None:
    """Refuse a frame size that is empty or too large to decode safely."""
    if width_px <= 0 or height_px <= 0:
        raise ClipError(path, f"frame size {width_px}x{height_px} px is empty")
    if width_px * height_px > MAX_FRAME_PIXELS:
        raise ClipError(
            path,
            f"frame size {width_px}x{height_px} px exceeds the {MAX_FRAME_PIXELS} px limit",
        )


def warn_if_count_differs(path: Path, declared: int | None, decoded: int) -> None:
    """Log when a clip holds a different number of frames than its header declares."""
    if declared is not None and declared != decoded:
        logger.warning(
            "clip frame count differs: %s declares %d, decoded %d", path.name, declared, decoded
        )
