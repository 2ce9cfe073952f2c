"""The CSV manifest: one row per gold frame, written by the export and read back by the import.

Numbers that must come back exactly (keypoint positions, spacing, time) are written as Python's
shortest round-trip form; agreement figures are rounded to 6 decimals. An empty cell means
"none": no choice made, no point placed, agreement not judged, spacing unknown.
"""

import csv
import io
import math
from collections.abc import Mapping, Sequence

import numpy as np

from label_config.schema import KEYPOINTS, STRUCTURES
from training.annotations import FrameAnnotation
from training.export.gold import GoldFrame
from training.export.layout import frame_name

LIST_SEPARATOR = ";"
FIXED_COLUMNS = (
    "frame",
    "task_id",
    "project_id",
    "clip_id",
    "frame_index",
    "time_s",
    "infant_id",
    "image",
    "height_px",
    "width_px",
    "spacing_mm_per_px",
    "config_view",
    "view",
    "level",
    "quality",
    "tied_choices",
    "not_visible",
    "annotators",
    "n_annotators",
    "gold_source",
    "gold_annotator",
    "nifti_slice",
    "mean_dice",
)
DICE_COLUMNS = tuple(f"dice_{s.key}" for s in STRUCTURES)
POINT_COLUMNS = tuple(
    f"{k.key}_{suffix}" for k in KEYPOINTS for suffix in ("x_px", "y_px", "distance_mm")
)
COLUMNS = FIXED_COLUMNS + DICE_COLUMNS + POINT_COLUMNS


def exact(value: float | None) -> str:
    """Shortest text that reads back as the same float; empty for None or NaN."""
    return "" if value is None or math.isnan(value) else repr(float(value))


def rounded(value: float | None) -> str:
    """Six decimals; empty for None or NaN."""
    return "" if value is None or math.isnan(value) else f"{value:.6f}"


def manifest_row(gold_frame: GoldFrame, nifti_slice: int) -> dict[str, str]:
    frame, gold, agreement = gold_frame.frame, gold_frame.gold, gold_frame.agreement
    order = [item.key for item in (*STRUCTURES, *KEYPOINTS)]
    row = {
        "frame": frame_name(frame.clip_id, frame.frame_index),
        "task_id": str(frame.task_id),
        "project_id": str(frame.project_id),
        "clip_id": frame.clip_id,
        "frame_index": str(frame.frame_index),
        "time_s": exact(frame.time_s),
        "infant_id": frame.infant_id or "",
        "image": frame.image,
        "height_px": str(frame.frame_shape_px[0]),
        "width_px": str(frame.frame_shape_px[1]),
        "spacing_mm_per_px": exact(frame.spacing_mm_per_px),
        "config_view": frame.view,
        "view": gold.view or "",
        "level": gold.level or "",
        "quality": gold.quality or "",
        "tied_choices": LIST_SEPARATOR.join(gold_frame.tied_choices),
        "not_visible": LIST_SEPARATOR.join(sorted(gold.not_visible, key=order.index)),
        "annotators": LIST_SEPARATOR.join(a.annotator for a in frame.annotations),
        "n_annotators": str(len(frame.annotations)),
        "gold_source": gold_frame.source,
        "gold_annotator": gold.annotator,
        "nifti_slice": str(nifti_slice),
        "mean_dice": rounded(agreement.mean_dice),
    }
    row |= _agreement_cells(gold_frame)
    return row


def _agreement_cells(gold_frame: GoldFrame) -> dict[str, str]:
    dice, distance_mm = gold_frame.agreement.dice, gold_frame.agreement.distance_mm
    cells = {f"dice_{s.key}": rounded(dice.get(s.key)) for s in STRUCTURES}
    for keypoint in KEYPOINTS:
        x_px, y_px = gold_frame.gold.points.get(keypoint.key, (None, None))
        cells[f"{keypoint.key}_x_px"] = exact(x_px)
        cells[f"{keypoint.key}_y_px"] = exact(y_px)
        cells[f"{keypoint.key}_distance_mm"] = rounded(distance_mm.get(keypoint.key))
    return cells


def manifest_bytes(rows: Sequence[Mapping[str, str]]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def read_manifest(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def annotation_from_row(row: Mapping[str, str], masks: dict[str, np.ndarray]) -> FrameAnnotation:
    """The gold FrameAnnotation of a manifest row, with its (H, W) bool ``masks``."""
    points = {
        k.key: (float(row[f"{k.key}_x_px"]), float(row[f"{k.key}_y_px"]))
        for k in KEYPOINTS
        if row.get(f"{k.key}_x_px")
    }
    return FrameAnnotation(
        task_id=int(row["task_id"]),
        annotator=row["gold_annotator"],
        masks=masks,
        points=points,
        not_visible=frozenset(_split(row["not_visible"])),
        view=row["view"] or None,
        level=row["level"] or None,
        quality=row["quality"] or None,
        frame_shape_px=(int(row["height_px"]), int(row["width_px"])),
    )


def _split(cell: str) -> list[str]:
    return cell.split(LIST_SEPARATOR) if cell else []
