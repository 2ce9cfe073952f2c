"""Figures of an evaluation, drawn with matplotlib's file-only Agg backend."""

from pathlib import Path

import numpy as np

from label_config.schema import KEYPOINTS, STRUCTURES
from training.evaluation.results import (
    FEATURE_ACCURACY_GOAL,
    MEAN_DICE_GOAL,
    Evaluation,
    OverlayFrame,
)
from training.evaluation.statistics import Calibration

COLOURS = {label.key: label.colour for label in (*STRUCTURES, *KEYPOINTS)}
LABELS = {label.key: label.label for label in (*STRUCTURES, *KEYPOINTS)}


def _pyplot():
    """pyplot on the Agg backend, imported only when a figure is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_structure_bars(evaluation: Evaluation, path: Path) -> None:
    """Per structure: mean Dice, and feature accuracy (structures and keypoints) with Wilson
    95% error bars; dashed lines at the goals. A structure never painted gets no Dice bar."""
    plt = _pyplot()
    structures, keypoints = evaluation.structure_keys(), evaluation.keypoint_keys()
    dice = [evaluation.structure_summary(k)["dice_mean"] for k in structures]
    accuracies = [evaluation.structure_summary(k)["feature_accuracy"] for k in structures]
    accuracies += [evaluation.keypoint_summary(k)["feature_accuracy"] for k in keypoints]
    figure, (dice_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(12, 4.8))
    dice_axis.bar(
        range(len(structures)),
        [0.0 if d is None else d for d in dice],
        color=[COLOURS.get(k, "grey") for k in structures],
    )
    dice_axis.axhline(MEAN_DICE_GOAL, color="black", linestyle="--", linewidth=1)
    _label_bars(dice_axis, structures, "mean Dice (frames where the expert painted it)")
    measured = [a for a in accuracies if a.trials]
    accuracy_axis.bar(
        range(len(accuracies)),
        [0.0 if a.value is None else a.value for a in accuracies],
        color=[COLOURS.get(k, "grey") for k in (*structures, *keypoints)],
    )
    accuracy_axis.errorbar(
        [i for i, a in enumerate(accuracies) if a.trials],
        [a.value for a in measured],
        yerr=[[a.value - a.low for a in measured], [a.high - a.value for a in measured]],
        fmt="none",
        ecolor="black",
        capsize=3,
    )
    accuracy_axis.axhline(FEATURE_ACCURACY_GOAL, color="black", linestyle="--", linewidth=1)
    _label_bars(
        accuracy_axis, [*structures, *keypoints], "feature recognition accuracy (95% Wilson CI)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _label_bars(axis, keys: list[str], title: str) -> None:
    axis.set_xticks(range(len(keys)))
    axis.set_xticklabels([LABELS.get(k, k) for k in keys], rotation=35, ha="right", fontsize=8)
    axis.set_ylim(0, 1.05)
    axis.set_title(title, fontsize=10)


def plot_overlays(overlays: list[OverlayFrame], path: Path) -> None:
    """One panel per frame: the image in grey, the expert's contours solid, the model's dashed,
    one colour per structure; points as a circle (expert) and a cross (model)."""
    plt = _pyplot()
    figure, axes = plt.subplots(
        1, len(overlays), figsize=(5 * len(overlays), 5), squeeze=False, layout="constrained"
    )
    for axis, overlay in zip(axes[0], overlays):
        _draw_overlay(axis, overlay)
    handles = _legend_handles(overlays)
    figure.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=8, frameon=False)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _draw_overlay(axis, overlay: OverlayFrame) -> None:
    rows, columns = (
        np.flatnonzero(overlay.image.any(axis=1)),
        np.flatnonzero(overlay.image.any(axis=0)),
    )
    axis.imshow(overlay.image, cmap="gray", vmin=0, vmax=255)
    for key, mask in overlay.truth.items():
        if mask.any():
            axis.contour(mask, levels=[0.5], colors=[COLOURS[key]], linewidths=1.2)
    for key, mask in overlay.predicted.items():
        axis.contour(mask, levels=[0.5], colors=[COLOURS[key]], linewidths=1.2, linestyles="--")
    for key, (x, y) in overlay.truth_points.items():
        axis.plot(x, y, "o", markerfacecolor="none", markeredgecolor=COLOURS[key], markersize=9)
    for key, (x, y) in overlay.predicted_points.items():
        axis.plot(x, y, "x", color=COLOURS[key], markersize=9)
    if rows.size:
        axis.set_xlim(columns[0] - 0.5, columns[-1] + 0.5)
        axis.set_ylim(rows[-1] + 0.5, rows[0] - 0.5)
    axis.set_title(
        f"{overlay.label}: {overlay.clip_id} frame {overlay.frame_index}\n"
        f"{overlay.view}, mean Dice {overlay.mean_dice:.3f}",
        fontsize=9,
    )
    axis.axis("off")


def _legend_handles(overlays: list[OverlayFrame]) -> list:
    from matplotlib.lines import Line2D

    keys = dict.fromkeys(k for o in overlays for k in (*o.truth, *o.truth_points))
    handles = [Line2D([], [], color=COLOURS[k], label=LABELS[k]) for k in keys]
    handles.append(Line2D([], [], color="black", label="expert"))
    handles.append(Line2D([], [], color="black", linestyle="--", label="model"))
    return handles


def plot_learning_curve(history: list[dict], path: Path) -> None:
    """Training loss per epoch and, where recorded, the validation mean Dice."""
    plt = _pyplot()
    figure, loss_axis = plt.subplots(figsize=(7, 4))
    epochs = [entry["epoch"] for entry in history]
    loss_axis.plot(epochs, [entry["loss"] for entry in history], color="#2d9cdb", label="loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("training loss", color="#2d9cdb")
    validated = [e for e in history if e.get("validation_mean_dice") is not None]
    if validated:
        dice_axis = loss_axis.twinx()
        dice_axis.plot(
            [e["epoch"] for e in validated],
            [e["validation_mean_dice"] for e in validated],
            color="#eb5757",
            marker="o",
            markersize=3,
        )
        dice_axis.set_ylabel("validation mean Dice", color="#eb5757")
        dice_axis.set_ylim(0, 1)
    loss_axis.set_title("learning curve", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_reliability(calibration: Calibration, path: Path) -> None:
    """Observed fraction present against the mean presence score per bin; the diagonal is
    perfect calibration, and the bar below shows how many scores fell in each bin."""
    plt = _pyplot()
    figure, (curve_axis, count_axis) = plt.subplots(
        2, 1, figsize=(5.5, 6), sharex=True, gridspec_kw={"height_ratios": (3, 1)}
    )
    filled = [b for b in calibration.bins if b.count]
    curve_axis.plot([0, 1], [0, 1], color="grey", linestyle=":")
    curve_axis.plot(
        [b.mean_score for b in filled], [b.observed_fraction for b in filled], marker="o"
    )
    curve_axis.set_ylabel("fraction present (expert)")
    ece = calibration.expected_calibration_error
    ece_text = "-" if ece is None else f"{ece:.3f}"
    curve_axis.set_title(f"presence calibration, ECE {ece_text}", fontsize=10)
    widths = [b.high - b.low for b in calibration.bins]
    count_axis.bar(
        [b.low for b in calibration.bins],
        [b.count for b in calibration.bins],
        width=widths,
        align="edge",
        color="#bdbdbd",
        edgecolor="white",
    )
    count_axis.set_xlabel("presence score: highest probability inside the imaging region")
    count_axis.set_ylabel("count")
    count_axis.set_xlim(0, 1)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
