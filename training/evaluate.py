"""Score a model version on the hold-out test clips and write its report next to the model:
``python -m training.evaluate phantom VERSION`` or ``... gold-standard VERSION FOLDER``.

Only clips on the test side of the split file are scored (the phantom split file for phantom
clips, the project's split file for the gold standard): never clips the model trained on or was
chosen on. The report lands in ``STORE/VERSION/evaluation/`` (report.md, metrics.json, plots).
"""

import os
from pathlib import Path

import numpy as np
import typer

from training.evaluation import (
    EvaluationFrame,
    evaluate,
    phantom_evaluation_frames,
    write_report,
)
from training.gold_dataset import GoldStandardFrame, clip_refs, read_gold_standard, truth_masks
from training.sources import (
    LABEL_STUDIO_URL,
    MEDIA_ROOT,
    S3_BUCKET,
    S3_ENDPOINT_URL,
    SPLIT_FILE,
    frame_loader,
)
from training.splits import SplitFile
from training.store import ModelStore, SegmentationModel
from training.train import phantom_clip_id, phantom_split

app = typer.Typer(add_completion=False, help=__doc__)

STORE = typer.Option(Path("var/models"), help="The model store folder.")
THRESHOLD = typer.Option(0.5, min=0.0, max=1.0, help="Probability above which a pixel is in.")


@app.command()
def phantom(
    version: str = typer.Argument(..., help="Model version, e.g. v0003, or 'champion'."),
    store: Path = STORE,
    clips: int = typer.Option(30, min=3, help="Phantom seeds 0 .. CLIPS-1 are considered."),
    frames_per_clip: int = typer.Option(24, min=1),
    threshold: float = THRESHOLD,
) -> None:
    """Score on the phantom clips the phantom split file holds out for the test."""
    models = ModelStore(store)
    split = phantom_split(models.root, range(clips))
    seeds = [seed for seed in range(clips) if phantom_clip_id(seed) in split.test]
    if not seeds:
        raise typer.BadParameter(f"no test clip among {clips} phantom clips", param_hint="clips")
    model = _load(models, version)
    frames = phantom_evaluation_frames(seeds, frames_per_clip)
    _report(models, model, frames, threshold)


@app.command("gold-standard")
def gold_standard(
    version: str = typer.Argument(..., help="Model version, e.g. v0003, or 'champion'."),
    folder: Path = typer.Argument(..., help="A gold-standard export folder."),
    store: Path = STORE,
    split_file: Path = SPLIT_FILE,
    media_root: Path = MEDIA_ROOT,
    label_studio_url: str = LABEL_STUDIO_URL,
    s3_bucket: str = S3_BUCKET,
    s3_endpoint_url: str = S3_ENDPOINT_URL,
    threshold: float = THRESHOLD,
) -> None:
    """Score on the gold frames of the clips the split file holds out for the test."""
    models = ModelStore(store)
    gold = read_gold_standard(folder)
    split = SplitFile(split_file or models.root / "split.json").assign(clip_refs(gold))
    held_out = [frame for frame in gold if frame.clip_id in split.test]
    if not held_out:
        raise typer.BadParameter("the export holds no frame of a test clip", param_hint="folder")
    model = _load(models, version)
    token = os.environ.get("LABEL_STUDIO_API_TOKEN")
    loader = frame_loader(media_root, label_studio_url, token, s3_bucket, s3_endpoint_url)
    try:
        frames = [_evaluation_frame(f, loader.load_gray, model) for f in held_out]
    finally:
        loader.close()
    _report(models, model, frames, threshold)


PREDICTED_POINTS = ("conus_tip",)
"""Keypoints the model places; the needle entry is the clinician's choice, not predicted."""


def _evaluation_frame(frame: GoldStandardFrame, load_gray, model) -> EvaluationFrame:
    """A gold frame for the evaluation. A keypoint counts as judged where the expert placed it
    or marked it not visible; left blank, it is not scored either way."""
    image = load_gray(frame.image_url)
    truth = truth_masks(frame, model.spec.structures, image.shape)
    annotation = frame.annotation
    judged = tuple(
        key for key in PREDICTED_POINTS if key in annotation.points or key in annotation.not_visible
    )
    return EvaluationFrame(
        clip_id=frame.clip_id,
        frame_index=frame.frame_index,
        view=frame.view,
        spacing_mm_per_px=frame.spacing_mm_per_px,
        image=np.ascontiguousarray(image),
        truth=truth,
        truth_points=dict(annotation.points),
        judged_points=judged,
    )


def _load(models: ModelStore, version: str) -> SegmentationModel:
    return models.load_champion() if version == "champion" else models.load(version)


def _report(models: ModelStore, model: SegmentationModel, frames, threshold: float) -> None:
    evaluation = evaluate(model, frames, threshold=threshold)
    report = write_report(evaluation, models.root / model.version / "evaluation", model.metadata)
    print(evaluation.summary())
    print(f"report: {report}")


if __name__ == "__main__":
    app()
