"""The evaluation as a Markdown report with its figures, and as metrics.json."""

import json
import logging
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from training.evaluation import plots
from training.evaluation.metrics import RECOGNISED_DICE, RECOGNISED_DISTANCE_MM
from training.evaluation.results import Evaluation, Goal
from training.evaluation.statistics import CALIBRATION_BINS, ErrorSummary, Proportion

logger = logging.getLogger(__name__)

LIBRARIES = ("torch", "monai", "numpy", "scipy", "matplotlib")
DEFINITIONS = f"""\
- **Frames.** Only hold-out clips are evaluated; a structure is scored on the frames of the
  views where it is drawn (label schema), a keypoint on the frames where the expert judged it.
- **Prediction.** What the annotation backend serves: `predict_frame` at probability threshold
  {{threshold}}, regions under {{min_region_px}} px removed, holes filled, no dropout passes.
  Present = a non-empty mask after this post-processing (a placed point, for a keypoint).
- **Dice** per frame and structure (MONAI `compute_dice`). When the expert's mask is empty
  Dice is undefined and left out, whatever the model painted; that frame counts in the
  specificity and the feature accuracy instead. An empty prediction of a painted structure
  has Dice 0. The structure's Dice is the mean over the frames where the expert painted it;
  **mean Dice** is the mean of those per-structure means.
- **HD95**: 95th-percentile symmetric Hausdorff distance between the mask edges in mm (MONAI
  `compute_hausdorff_distance`), only on frames where both masks are painted and the spacing
  is known.
- **Sensitivity**: predicted present among frames where the expert painted it; **specificity**:
  predicted absent among frames where the expert left it empty.
- **Feature recognition accuracy**: per frame and structure (or keypoint), right when the
  model's present/absent call matches the expert's and, when both are present, Dice >=
  {RECOGNISED_DICE} (a point: at most {RECOGNISED_DISTANCE_MM:g} mm from the expert's; where
  the spacing is unknown, a point is scored on presence alone). Proportions carry a 95% Wilson
  score interval (scipy `binomtest`).
- **Skin-to-CSF depth** (mm): long axis, in the column through the centre of the largest
  interspinous window; short axis, in the midline (mean) column of the thecal sac. Distance
  from the skin line (first non-black pixel of the served image in that column, the top of the
  imaging region) to the first CSF pixel, from the expert's masks and from the model's. Errors
  are model minus expert; bias is their mean.
- **Calibration**: per frame and structure, the presence score is the model's highest
  probability for the structure inside the imaging region; {CALIBRATION_BINS} equal bins of
  score against the fraction of those frames where the expert painted it. Expected
  calibration error (ECE) = sum over bins of (share of scores) x |fraction - mean score|.
"""


def write_report(evaluation: Evaluation, folder: Path, model_metadata: dict) -> Path:
    """Write ``folder``/report.md, metrics.json and the PNG figures; return report.md's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    metrics = evaluation.to_json()
    metrics["model_metadata"] = _model_summary(model_metadata)
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    figures = _figures(evaluation, folder, model_metadata.get("history"))
    report = folder / "report.md"
    report.write_text(_markdown(evaluation, model_metadata, figures))
    logger.info("report written to %s", report)
    return report


def _figures(evaluation: Evaluation, folder: Path, history) -> dict[str, str | None]:
    """Figure name -> file name written, or None when there was nothing to draw."""
    figures: dict[str, str | None] = {"structures": "structures.png"}
    plots.plot_structure_bars(evaluation, folder / "structures.png")
    figures["overlays"] = "overlays.png" if evaluation.overlays else None
    if evaluation.overlays:
        plots.plot_overlays(evaluation.overlays, folder / "overlays.png")
    usable = isinstance(history, list) and any("loss" in e and "epoch" in e for e in history)
    figures["learning_curve"] = "learning-curve.png" if usable else None
    if usable:
        entries = [e for e in history if "loss" in e and "epoch" in e]
        plots.plot_learning_curve(entries, folder / "learning-curve.png")
    figures["calibration"] = "calibration.png"
    plots.plot_reliability(evaluation.calibration(), folder / "calibration.png")
    return figures


def _model_summary(metadata: dict) -> dict:
    keep = ("version", "trained_on", "parent_version", "epochs", "training_time_s", "libraries")
    return {key: metadata[key] for key in keep if key in metadata}


def _markdown(evaluation: Evaluation, metadata: dict, figures: dict[str, str | None]) -> str:
    sections = [
        f"# Evaluation of model {evaluation.model_version}",
        _goals_line(evaluation.goals()),
        _model_section(evaluation, metadata),
        _split_section(evaluation),
        "## Definitions\n\n"
        + DEFINITIONS.format(
            threshold=evaluation.threshold, min_region_px=evaluation.min_region_px
        ),
        _structure_section(evaluation, figures["structures"]),
        _accuracy_section(evaluation),
        _keypoint_section(evaluation),
        _depth_section(evaluation),
        _calibration_section(evaluation, figures["calibration"]),
        _overlay_section(figures["overlays"]),
        _learning_section(figures["learning_curve"]),
    ]
    return "\n\n".join(s.rstrip() for s in sections) + "\n"


def _goals_line(goals: list[Goal]) -> str:
    parts = []
    for goal in goals:
        if goal.met is None:
            parts.append(f"{goal.name} >= {goal.target:g}: not measured")
            continue
        verdict = "met" if goal.met else "not met"
        text = f"{goal.name} {goal.value:.3f} >= {goal.target:g}: **{verdict}**"
        if goal.lower_bound is not None:
            shown = "met" if goal.met_at_lower_bound else "not met"
            text += f" (lower 95% bound {goal.lower_bound:.3f}: {shown})"
        parts.append(text)
    return "**Goals.** " + "; ".join(parts) + "."


def _model_section(evaluation: Evaluation, metadata: dict) -> str:
    trained = metadata.get("libraries", {})
    lines = [
        "## Model and libraries",
        "",
        f"- Model version: {evaluation.model_version}",
        f"- Trained on: {metadata.get('trained_on', 'not recorded')}",
        f"- Libraries at training: {_versions(trained) or 'not recorded'}",
        f"- Libraries of this evaluation: {_versions(_installed())}",
        f"- Evaluation time: {evaluation.elapsed_s:.1f} s",
    ]
    return "\n".join(lines)


def _installed() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _versions(versions: dict) -> str:
    return ", ".join(f"{name} {value}" for name, value in sorted(versions.items()))


def _split_section(evaluation: Evaluation) -> str:
    clips = evaluation.clips()
    lines = [
        "## Hold-out split",
        "",
        f"{len(evaluation.frames)} frames of {len(clips)} clips.",
        "",
        "| clip | view | frames | frame indices |",
        "|---|---|---|---|",
    ]
    for clip_id, clip in clips.items():
        indices = clip["frame_indices"]
        lines.append(
            f"| {clip_id} | {clip['view']} | {len(indices)} | {', '.join(map(str, indices))} |"
        )
    return "\n".join(lines)


def _structure_section(evaluation: Evaluation, figure: str) -> str:
    lines = [
        "## Per structure",
        "",
        "| structure | frames | Dice (n) | HD95 mm mean / median (n) | sensitivity | "
        "specificity | feature accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in evaluation.structure_keys():
        s = evaluation.structure_summary(key)
        lines.append(
            f"| {key} | {s['frames']} | {_number(s['dice_mean'])} ({s['dice_n']}) | "
            f"{_number(s['hd95_mm_mean'], 2)} / {_number(s['hd95_mm_median'], 2)} "
            f"({s['hd95_n']}) | {s['sensitivity'].text()} | {s['specificity'].text()} | "
            f"{s['feature_accuracy'].text()} |"
        )
    lines += [
        "",
        f"Mean Dice: {_number(evaluation.mean_dice())}.",
        "",
        f"![per structure]({figure})",
    ]
    return "\n".join(lines)


def _accuracy_section(evaluation: Evaluation) -> str:
    rows: list[tuple[str, Proportion]] = [("overall", evaluation.feature_accuracy())]
    rows += [
        (f"view {view}", evaluation.feature_accuracy(lambda v, k, view=view: v == view))
        for view in evaluation.views()
    ]
    rows += [
        (key, evaluation.feature_accuracy(lambda v, k, key=key: k == key))
        for key in (*evaluation.structure_keys(), *evaluation.keypoint_keys())
    ]
    lines = ["## Feature recognition accuracy", "", "| scope | accuracy |", "|---|---|"]
    lines += [f"| {scope} | {accuracy.text()} |" for scope, accuracy in rows]
    return "\n".join(lines)


def _keypoint_section(evaluation: Evaluation) -> str:
    keys = evaluation.keypoint_keys()
    if not keys:
        return "## Keypoints\n\nNo keypoint was judged on these frames."
    lines = [
        "## Keypoints",
        "",
        "| keypoint | frames | distance mm mean / median (n) | scored on presence only | "
        "sensitivity | specificity |",
        "|---|---|---|---|---|---|",
    ]
    for key in keys:
        s = evaluation.keypoint_summary(key)
        lines.append(
            f"| {key} | {s['frames']} | {_number(s['distance_mm_mean'], 2)} / "
            f"{_number(s['distance_mm_median'], 2)} ({s['distance_n']}) | {s['presence_only']} | "
            f"{s['sensitivity'].text()} | {s['specificity'].text()} |"
        )
    return "\n".join(lines)


def _depth_section(evaluation: Evaluation) -> str:
    lines = [
        "## Skin-to-CSF depth",
        "",
        "| scope | frames | measured on both (n) | MAE mm | median abs. mm | p95 abs. mm | "
        "bias mm | not measured: expert / model / either | expert depth mm mean (min-max) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    scopes = [("overall", evaluation.depth_summary())]
    scopes += [(f"view {v}", evaluation.depth_summary(v)) for v in evaluation.views()]
    for scope, s in scopes:
        error: ErrorSummary = s["error_mm"]
        lines.append(
            f"| {scope} | {s['frames']} | {error.n} | {_number(error.mean_absolute, 2)} | "
            f"{_number(error.median_absolute, 2)} | {_number(error.p95_absolute, 2)} | "
            f"{_number(error.bias, 2)} | {s['not_measured_truth']} / "
            f"{s['not_measured_predicted']} / {s['not_measured_either']} | "
            f"{_number(s['truth_mm_mean'], 1)} ({_number(s['truth_mm_min'], 1)}-"
            f"{_number(s['truth_mm_max'], 1)}) |"
        )
    return "\n".join(lines)


def _calibration_section(evaluation: Evaluation, figure: str) -> str:
    calibration = evaluation.calibration()
    lines = [
        "## Calibration of presence scores",
        "",
        f"Expected calibration error: {_number(calibration.expected_calibration_error)}.",
        "",
        "| score bin | frames x structures | mean score | fraction present |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {b.low:.1f}-{b.high:.1f} | {b.count} | {_number(b.mean_score)} | "
        f"{_number(b.observed_fraction)} |"
        for b in calibration.bins
    ]
    lines += ["", f"![reliability diagram]({figure})"]
    return "\n".join(lines)


def _overlay_section(figure: str | None) -> str:
    if figure is None:
        return "## Best, median and worst frames\n\nNo frame had a painted structure."
    return (
        "## Best, median and worst frames\n\nBy mean Dice over the structures the expert "
        "painted. Expert contours solid, model contours dashed; points: circle expert, cross "
        f"model.\n\n![best, median and worst frames]({figure})"
    )


def _learning_section(figure: str | None) -> str:
    if figure is None:
        return (
            "## Learning curve\n\nNot drawn: the model's metadata holds no training history "
            "(`history` with `epoch` and `loss` per epoch)."
        )
    return f"## Learning curve\n\n![learning curve]({figure})"


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
