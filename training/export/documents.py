"""The JSON and Markdown documents of an export: COCO, agreement and README."""

from collections.abc import Sequence
from dataclasses import asdict

from label_config.schema import STRUCTURES
from training.agreement import STAPLE_THRESHOLD, rank_for_adjudication
from training.export.encoding import coco_annotation, coco_categories
from training.export.gold import CONSENSUS_SOURCE, GoldFrame, kappas_of
from training.export.layout import (
    AGREEMENT,
    CHECKSUMS,
    COCO,
    MANIFEST,
    MASKS_DIR,
    NIFTI_DIR,
    SCHEMA,
    frame_name,
)

CATEGORY_OF = {s.key: i + 1 for i, s in enumerate(STRUCTURES)}


def coco_document(gold_frames: Sequence[GoldFrame], version: str) -> dict:
    """COCO instances: one image per frame (id = Label Studio task id), one annotation per
    non-empty gold mask with its RLE; ids count up in manifest order."""
    images, annotations = [], []
    for gold_frame in gold_frames:
        frame = gold_frame.frame
        height_px, width_px = frame.frame_shape_px
        images.append(
            {
                "id": frame.task_id,
                "file_name": frame_name(frame.clip_id, frame.frame_index),
                "height": height_px,
                "width": width_px,
                "clip_id": frame.clip_id,
                "frame_index": frame.frame_index,
            }
        )
        for key, mask in gold_frame.gold.masks.items():
            if mask.any():
                annotation_id = len(annotations) + 1
                annotations.append(
                    coco_annotation(annotation_id, frame.task_id, CATEGORY_OF[key], mask)
                )
    return {
        "info": {"description": "Infant lumbar spine ultrasound gold standard", "version": version},
        "licenses": [],
        "categories": coco_categories(),
        "images": images,
        "annotations": annotations,
    }


def agreement_document(gold_frames: Sequence[GoldFrame]) -> dict:
    """Kappa per choice and annotator pair, and the frames ranked for adjudication."""
    by_task = {g.frame.task_id: g for g in gold_frames}
    ranked = rank_for_adjudication(g.agreement for g in gold_frames)
    return {
        "kappa": [asdict(k) for k in kappas_of(gold_frames)],
        "adjudication": [
            {
                "frame": frame_name(
                    by_task[a.task_id].frame.clip_id, by_task[a.task_id].frame.frame_index
                ),
                "task_id": a.task_id,
                "annotators": list(a.annotators),
                "mean_dice": a.mean_dice,
                "dice": a.dice,
                "distance_mm": a.distance_mm,
            }
            for a in ranked
        ],
    }


def readme_text(version: str, gold_frames: Sequence[GoldFrame]) -> str:
    clips = sorted({g.frame.clip_id for g in gold_frames})
    consensus = sum(g.source == CONSENSUS_SOURCE for g in gold_frames)
    annotators = sorted({a.annotator for g in gold_frames for a in g.frame.annotations})
    example = f"{MASKS_DIR}/<clip>/<frame index, 6 digits>/<structure>.png"
    volume = f"{NIFTI_DIR}/<clip>/<structure>.nii.gz"
    return f"""# Infant lumbar spine ultrasound: gold standard {version}

{len(gold_frames)} frames from {len(clips)} clips; {consensus} frames have a consensus of two or
more annotators, the others the single annotation. Annotators: {len(annotators)}.

## Contents
- `{MANIFEST}`: one row per frame: task, clip and infant pseudonyms, view, level, quality,
  annotators, mm per pixel, per-structure Dice between annotators, keypoints (pixels).
- `{example}`: one PNG per structure and frame, frame size, 255 inside, 0 outside.
- `{volume}`: per clip and structure, a (W, H, frames) uint8 volume in {{0, 1}};
  voxel size (mm per pixel, mm per pixel, 1); slice k is the frame whose `nifti_slice` is k.
- `{COCO}`: COCO instances with RLE masks (`iscrowd` 1); image id = task id.
- `{AGREEMENT}`: Cohen's kappa of view, level and quality per annotator pair, and the frames
  ranked for adjudication (lowest mean Dice first).
- `{SCHEMA}`: the label schema and the Label Studio labeling configs.
- `{CHECKSUMS}`: SHA-256 of every file; check with `sha256sum -c {CHECKSUMS}`.

## Rules
- Consensus masks: STAPLE over all annotators of the frame, probability >= {STAPLE_THRESHOLD}.
- Keypoints: mean position over the annotators who placed them, kept when at least half did;
  pixel coordinates with the frame's top-left corner at (0, 0).
- Choices: majority; a tie goes to the value listed last in the schema (`tied_choices`).
- Dice of a structure nobody painted is 1 when both marked it not visible, else empty.
- An empty mask with the structure in `not_visible` means "judged absent".
"""
