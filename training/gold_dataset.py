"""A gold-standard export as a dataset: each gold frame with where its image lies and its clip.

The export holds masks and a manifest, not the frames: images are read from the URL in the
manifest's ``image`` column (local files, S3 or Label Studio) by the caller's loader.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from label_config.xml import UNKNOWN_VIEW
from training.annotation_dataset import AnnotatedFrame
from training.annotations import FrameAnnotation
from training.export.layout import MANIFEST
from training.export.manifest import read_manifest
from training.export.reader import import_gold_standard
from training.splits import ClipRef

ImageLoader = Callable[[str], np.ndarray]
"""Image URL -> (H, W) uint8 grey frame."""


@dataclass(frozen=True)
class GoldStandardFrame:
    clip_id: str
    frame_index: int
    view: str
    """The view the expert chose; the project's view when none was chosen."""
    infant_id: str | None
    image_url: str
    spacing_mm_per_px: float | None
    annotation: FrameAnnotation

    def as_annotated(self) -> AnnotatedFrame:
        return AnnotatedFrame(
            task_id=self.annotation.task_id,
            annotation_id=None,
            clip_id=self.clip_id,
            frame_index=self.frame_index,
            image_url=self.image_url,
            annotation=self.annotation,
        )


def read_gold_standard(folder: Path) -> list[GoldStandardFrame]:
    """Every gold frame of the export in ``folder``, checksums verified first."""
    annotations = import_gold_standard(folder)
    rows = read_manifest((Path(folder) / MANIFEST).read_bytes())
    return [
        GoldStandardFrame(
            clip_id=row["clip_id"],
            frame_index=int(row["frame_index"]),
            view=annotation.view or row["config_view"] or UNKNOWN_VIEW,
            infant_id=row["infant_id"] or None,
            image_url=row["image"],
            spacing_mm_per_px=float(row["spacing_mm_per_px"]) if row["spacing_mm_per_px"] else None,
            annotation=annotation,
        )
        for row, annotation in zip(rows, annotations, strict=True)
    ]


def clip_refs(frames: Iterable[GoldStandardFrame]) -> list[ClipRef]:
    """One reference per clip; a clip's view is that of most of its frames."""
    views: dict[str, list[str]] = {}
    infants: dict[str, str | None] = {}
    for frame in frames:
        views.setdefault(frame.clip_id, []).append(frame.view)
        infants[frame.clip_id] = frame.infant_id
    return [
        ClipRef(clip_id, max(set(seen), key=seen.count), infants[clip_id])
        for clip_id, seen in sorted(views.items())
    ]


def truth_masks(
    frame: GoldStandardFrame, structures: tuple[str, ...], shape_px: tuple[int, int]
) -> np.ndarray:
    """(S, H, W) bool: the gold masks in the order of ``structures``; unpainted ones empty."""
    stacked = np.zeros((len(structures), *shape_px), bool)
    for channel, key in enumerate(structures):
        mask = frame.annotation.masks.get(key)
        if mask is not None:
            if mask.shape != tuple(shape_px):
                raise ValueError(
                    f"{frame.clip_id} frame {frame.frame_index}: mask {key!r} is {mask.shape}, "
                    f"its image is {shape_px}"
                )
            stacked[channel] = mask
    return stacked
