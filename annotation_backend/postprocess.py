"""Predicted masks made easy to correct: no specks, no pinholes, one region where anatomy has one.

Per structure, from the anatomy of the two views:

- single objects, of which only the largest connected component is kept: ``cord`` (one tube,
  tapering to the conus) and ``thecal_sac`` (one round sac in short axis);
- rows or groups of objects, of which every component large enough is kept:
  ``spinous_process`` and ``vertebral_body`` (a row of processes or bodies in long axis),
  ``interspinous_window`` (one between each pair of processes), ``posterior_complex`` (a line
  broken by the shadows of ossified processes), ``csf`` (dorsal and ventral to the cord in long
  axis), ``cauda_equina`` (separate roots);
- every hole is filled, except in ``csf``, which rings the cord in short axis: there only holes
  smaller than ``min_region_px`` (speckle) are filled.

Connected components are 8-connected. Image columns run cranial (left, small x) to caudal
(right, large x) in long axis, as in the phantom, where the body coordinate ``u`` (cranial
negative) grows with the column.
"""

import numpy as np
from scipy import ndimage

SINGLE_OBJECT_STRUCTURES = frozenset({"cord", "thecal_sac"})
RINGED_STRUCTURES = frozenset({"csf"})
"""Structures that may enclose another structure, so that only their small holes are filled."""
EIGHT_CONNECTED = np.ones((3, 3), bool)
TIP_MARGIN_PX = 3
"""The cord must end at least this far inside the imaging region for its end to be the conus."""


def clean_mask(key: str, mask: np.ndarray, min_region_px: int) -> np.ndarray:
    """(H, W) bool mask of structure ``key`` -> (H, W) bool mask, possibly empty.

    Holes are filled (only those smaller than ``min_region_px`` for ringed structures), then
    components smaller than ``min_region_px`` are removed, then single-object structures keep
    their largest component (the first in scan order on a tie).
    """
    filled = fill_holes(mask, min_region_px if key in RINGED_STRUCTURES else None)
    labels, sizes = _components(filled)
    keep = sizes >= min_region_px
    if key in SINGLE_OBJECT_STRUCTURES and keep.any():
        keep = np.arange(sizes.size) == int(np.argmax(sizes))
    return np.concatenate([[False], keep])[labels]


def fill_holes(mask: np.ndarray, max_hole_px: int | None = None) -> np.ndarray:
    """(H, W) bool -> (H, W) bool with background pockets not reaching the border filled.

    ``max_hole_px`` None fills every hole; otherwise only holes with fewer pixels than that.
    Holes are 4-connected background regions, so a diagonal gap in the outline does not leak.
    """
    mask = np.asarray(mask, bool)
    holes = ndimage.binary_fill_holes(mask) & ~mask
    if max_hole_px is not None:
        labels, count = ndimage.label(holes)
        sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
        holes = np.concatenate([[False], sizes < max_hole_px])[labels]
    return mask | holes


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) bool -> ((H, W) int labels, 0 = background; (N,) pixel count per label 1..N)."""
    labels, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    return labels, sizes


def conus_tip(cord: np.ndarray, region: np.ndarray) -> tuple[float, float] | None:
    """Most caudal point of a long-axis cord mask as (x_px, y_px), or None.

    ``cord``: (H, W) bool; ``region``: (H, W) bool, the frame's imaging region. The point is the
    centre of the cord's rightmost (caudal) column: x at that column's centre, y at the mean of
    its cord rows, in continuous pixel coordinates (pixel (r, c) covers [c, c + 1) x [r, r + 1)).
    None for an empty mask, or when the cord reaches within ``TIP_MARGIN_PX`` of the caudal edge
    of the imaging region: the cord then runs out of the frame and its end is not the conus.
    """
    columns = np.flatnonzero(cord.any(axis=0))
    region_columns = np.flatnonzero(np.asarray(region, bool).any(axis=0))
    if columns.size == 0 or region_columns.size == 0:
        return None
    last = int(columns[-1])
    if last > int(region_columns[-1]) - TIP_MARGIN_PX:
        return None
    rows = np.flatnonzero(cord[:, last])
    return last + 0.5, float(rows.mean()) + 0.5
