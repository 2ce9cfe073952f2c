"""A video's display matrix as the array steps that turn a decoded frame upright.

FFmpeg's 3x3 display matrix [a b u; c d v; x y w] maps a decoded pixel (p, q) = (column, row) to
displayed (p', q') = (a p + c q + x, b p + d q + y). For right-angle rotations and mirrors the
2x2 part holds only zeros and +-1 (16.16 fixed point), which is all this module handles.
"""

from dataclasses import dataclass

import av
import numpy as np


@dataclass(frozen=True)
class DisplayTransform:
    """Transpose first, then flip rows and/or columns: the eight right-angle orientations."""

    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """(H, W[, 3]) decoded pixels to (H', W'[, 3]) displayed pixels; a copy when changed."""
        if self == UPRIGHT:
            return pixels
        if self.transpose:
            pixels = pixels.swapaxes(0, 1)
        if self.flip_rows:
            pixels = pixels[::-1]
        if self.flip_cols:
            pixels = pixels[:, ::-1]
        return np.ascontiguousarray(pixels)

    def displayed_size(self, width_px: int, height_px: int) -> tuple[int, int]:
        """(width, height) in px once applied to a frame of the given decoded size."""
        return (height_px, width_px) if self.transpose else (width_px, height_px)


UPRIGHT = DisplayTransform()


def frame_display_transform(frame: av.VideoFrame) -> DisplayTransform | None:
    """The frame's display matrix as a transform; None when it is not a right-angle one."""
    for side_data in frame.side_data:
        if side_data.type.name == "DISPLAYMATRIX":
            matrix = np.frombuffer(bytes(side_data), dtype=np.int32)
            return matrix_transform(matrix) if matrix.size >= 9 else None
    return UPRIGHT


def matrix_transform(matrix: np.ndarray) -> DisplayTransform | None:
    """(9,) int32 display matrix to a transform; None for rotations other than right angles."""
    a, b, c, d = (int(np.sign(value)) for value in matrix[[0, 1, 3, 4]])
    if b == 0 and c == 0 and a != 0 and d != 0:
        return DisplayTransform(transpose=False, flip_rows=d < 0, flip_cols=a < 0)
    if a == 0 and d == 0 and b != 0 and c != 0:
        # Transposed, displayed row q' = b p and column p' = c q.
        return DisplayTransform(transpose=True, flip_rows=b < 0, flip_cols=c < 0)
    return None
