"""The clinical measure: depth from the skin to the subarachnoid CSF, in mm.

Where it is measured, one image column per frame:

- long axis: the column through the centre (mean column) of the largest interspinous window,
  the needle's path;
- short axis: the midline column of the thecal sac (its mean column).

Along that column, the depth is the distance from the skin line, the first non-black pixel of
the served image (upload blanks everything outside the imaging region, whose top is the probe
face), to the first CSF pixel: (CSF row - skin row) x mm per pixel. The same image gives the skin
line for the expert's and the model's masks; only the masks differ.
"""

import numpy as np
from scipy import ndimage

from label_config.schema import LONG_AXIS, SHORT_AXIS

EIGHT_CONNECTED = np.ones((3, 3), bool)


def measurement_column(view: str, masks: dict[str, np.ndarray]) -> int | None:
    """The image column where the depth is measured, or None when its landmark is not painted.

    ``masks``: structure key -> (H, W) bool; a missing key counts as an empty mask. Unknown
    views have no landmark.
    """
    if view == LONG_AXIS:
        landmark = _largest_component(masks.get("interspinous_window"))
    elif view == SHORT_AXIS:
        landmark = masks.get("thecal_sac")
    else:
        return None
    if landmark is None or not landmark.any():
        return None
    return int(round(float(np.nonzero(landmark)[1].mean())))


def skin_to_csf_mm(
    image: np.ndarray, view: str, masks: dict[str, np.ndarray], spacing_mm_per_px: float | None
) -> float | None:
    """Skin-to-CSF depth in mm of one frame from ``masks`` (structure key -> (H, W) bool).

    None when it cannot be measured: spacing unknown, no landmark, no CSF in the column, or no
    skin line above the CSF.
    """
    column = measurement_column(view, masks)
    csf = masks.get("csf")
    if spacing_mm_per_px is None or column is None or csf is None:
        return None
    csf_rows = np.flatnonzero(csf[:, column])
    skin_rows = np.flatnonzero(image[:, column] > 0)
    if csf_rows.size == 0 or skin_rows.size == 0 or skin_rows[0] > csf_rows[0]:
        return None
    return float(csf_rows[0] - skin_rows[0]) * spacing_mm_per_px


def _largest_component(mask: np.ndarray | None) -> np.ndarray | None:
    """(H, W) bool: the largest 8-connected component of ``mask`` (the first on a tie)."""
    if mask is None or not mask.any():
        return None
    labels, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    return labels == int(np.argmax(sizes)) + 1
