"""Still images (PNG, JPEG) as one-frame clips at time 0, turned upright by EXIF orientation."""

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image

from upload.errors import ClipError
from upload.readers.base import Clip, ClipHeader, Frame, check_frame_size, describe

logger = logging.getLogger(__name__)

STILL_FORMATS = frozenset({"PNG", "JPEG", "MPO"})
"""Pillow's names for what is read; MPO is a camera JPEG with extra pictures after the first."""

_UPRIGHT_BY_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation (TIFF tag 274) to the step that shows the picture upright."""

_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


class StillClip(Clip):
    kind = "still image"

    def __init__(self, path: Path, header: ClipHeader, orientation: int):
        super().__init__(path, header)
        self._orientation = orientation

    def _decode(self) -> Iterator[Frame]:
        with Image.open(self.path) as image:
            image.load()
            step = _UPRIGHT_BY_ORIENTATION.get(self._orientation)
            upright = image.transpose(step) if step is not None else image
            pixels = still_pixels(upright)
        yield Frame(0, 0.0, pixels)


def open_still(path: Path) -> StillClip:
    """Read an image's size and orientation; its pixels are decoded by ``frames()``."""
    with Image.open(path) as image:
        if image.format not in STILL_FORMATS:
            raise ClipError(path, f"a {image.format} image is not read; PNG or JPEG expected")
        width_px, height_px = image.size
        orientation = _orientation(path, image)
    if orientation in (5, 6, 7, 8):
        width_px, height_px = height_px, width_px
    check_frame_size(path, width_px, height_px)
    header = ClipHeader(
        declared_frames=1,
        width_px=width_px,
        height_px=height_px,
        fps=None,
        duration_s=None,
        spacing_mm_per_px=None,
        imaging_region=None,
    )
    return StillClip(path, header, orientation)


def _orientation(path: Path, image: Image.Image) -> int:
    """EXIF orientation 1-8; 1 (as stored) when absent or unreadable."""
    try:
        orientation = int(image.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception as error:  # Pillow raises many types on a damaged EXIF block
        logger.warning("clip orientation unreadable: %s, %s", path.name, describe(error))
        return 1
    return orientation if orientation in _UPRIGHT_BY_ORIENTATION else 1


def still_pixels(image: Image.Image) -> np.ndarray:
    """(H, W) uint8 for grey images (16-bit ones scaled), (H, W, 3) uint8 RGB for the rest.

    Transparency is dropped: the colour under a transparent pixel is kept.
    """
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        return np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8)
    if image.mode in ("1", "L", "LA"):
        return np.array(image.convert("L"), dtype=np.uint8)
    return np.array(image.convert("RGB"), dtype=np.uint8)
