"""Writing a gold-standard folder from labelled frames.

A folder ``gold-standard-<version>/`` is written under a hidden partial name and renamed when
complete, so a reader never sees half an export. The same labelled frames give the same bytes.
"""

import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path, PurePosixPath

import numpy as np
from label_studio_sdk import LabelStudio
from tqdm import tqdm

from label_config.schema import STRUCTURES
from training.agreement import ChoiceKappa, FrameAgreement, rank_for_adjudication
from training.export.checksums import write_checksums
from training.export.documents import agreement_document, coco_document, readme_text
from training.export.encoding import (
    json_bytes,
    nifti_bytes,
    png_bytes,
    schema_document,
)
from training.export.errors import ExportError
from training.export.gold import CONSENSUS_SOURCE, GoldFrame, build_gold_frames, kappas_of
from training.export.layout import (
    AGREEMENT,
    COCO,
    MANIFEST,
    README,
    SCHEMA,
    folder_name,
    mask_path,
    nifti_path,
)
from training.export.manifest import manifest_bytes, manifest_row
from training.export.source import LabelledFrame, read_labelled_frames

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportSummary:
    folder: Path
    frames: int
    clips: int
    consensus_frames: int
    adjudication: list[FrameAgreement]
    """Frames with several annotators, lowest mean Dice first."""
    kappas: list[ChoiceKappa]


def export_gold_standard(
    client: LabelStudio, project_ids: Sequence[int], out_dir: Path, *, version: str
) -> ExportSummary:
    """Read every submitted annotation of ``project_ids`` and write ``out_dir/gold-standard-
    <version>/``. Raises ExportError when there is nothing to export or the folder exists."""
    frames = read_labelled_frames(client, project_ids)
    return write_gold_standard(frames, out_dir, version=version)


def write_gold_standard(
    frames: Sequence[LabelledFrame], out_dir: Path, *, version: str
) -> ExportSummary:
    """The export of already-read frames; see ``export_gold_standard``."""
    target = Path(out_dir) / folder_name(version)
    if not frames:
        raise ExportError("no task has a submitted annotation: nothing to export")
    if target.exists():
        raise ExportError(f"{target} exists: a released version is never overwritten; pick a new")
    gold_frames = build_gold_frames(frames)
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _write_contents(partial, gold_frames, version)
    write_checksums(partial)
    os.replace(partial, target)
    summary = _summary(target, gold_frames)
    logger.info(
        "exported %d frames of %d clips (%d by consensus) to %s",
        summary.frames,
        summary.clips,
        summary.consensus_frames,
        target,
    )
    return summary


def _summary(target: Path, gold_frames: list[GoldFrame]) -> ExportSummary:
    return ExportSummary(
        folder=target,
        frames=len(gold_frames),
        clips=len({g.frame.clip_id for g in gold_frames}),
        consensus_frames=sum(g.source == CONSENSUS_SOURCE for g in gold_frames),
        adjudication=rank_for_adjudication(g.agreement for g in gold_frames),
        kappas=kappas_of(gold_frames),
    )


def _put(folder: Path, relative: PurePosixPath | str, content: bytes) -> None:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _write_contents(folder: Path, gold_frames: list[GoldFrame], version: str) -> None:
    for gold_frame in tqdm(gold_frames, desc="gold masks", unit="frame", leave=False):
        frame = gold_frame.frame
        for key, mask in gold_frame.gold.masks.items():
            _put(folder, mask_path(frame.clip_id, frame.frame_index, key), png_bytes(mask))
    slices = _write_volumes(folder, gold_frames)
    rows = [manifest_row(g, slices[g.frame.task_id]) for g in gold_frames]
    _put(folder, MANIFEST, manifest_bytes(rows))
    _put(folder, COCO, json_bytes(coco_document(gold_frames, version)))
    _put(folder, AGREEMENT, json_bytes(agreement_document(gold_frames)))
    _put(folder, SCHEMA, json_bytes(schema_document()))
    _put(folder, README, readme_text(version, gold_frames).encode("utf-8"))


def _write_volumes(folder: Path, gold_frames: list[GoldFrame]) -> dict[int, int]:
    """One NIfTI per clip and structure; returns task id -> slice index in its clip's volume."""
    slices = {}
    for clip_id, clip_frames in groupby(gold_frames, key=lambda g: g.frame.clip_id):
        clip_frames = list(clip_frames)
        shape, spacing = _clip_geometry(clip_id, clip_frames)
        painted = {k for g in clip_frames for k in g.gold.masks}
        for key in [s.key for s in STRUCTURES if s.key in painted]:
            masks = [g.gold.masks.get(key, np.zeros(shape, bool)) for g in clip_frames]
            note = f"{key}; slices: manifest nifti_slice"
            _put(folder, nifti_path(clip_id, key), nifti_bytes(masks, spacing, note))
        slices |= {g.frame.task_id: index for index, g in enumerate(clip_frames)}
    return slices


def _clip_geometry(
    clip_id: str, clip_frames: list[GoldFrame]
) -> tuple[tuple[int, int], float | None]:
    shapes = {g.frame.frame_shape_px for g in clip_frames}
    spacings = {g.frame.spacing_mm_per_px for g in clip_frames}
    if len(shapes) > 1 or len(spacings) > 1:
        raise ExportError(
            f"clip {clip_id}: frames differ in size {sorted(shapes)} or spacing "
            f"{sorted(spacings, key=str)}; a clip's frames must share both: re-upload the clip"
        )
    return shapes.pop(), spacings.pop()
