"""Evaluation of a segmentation model against the expert gold standard on hold-out clips.

``evaluate(model, frames)`` scores the served predictions frame by frame (Dice, HD95, presence,
feature recognition, keypoint distance, skin-to-CSF depth, presence scores);
``write_report(evaluation, folder, model_metadata)`` writes report.md, metrics.json and figures.
"""

from training.evaluation.evaluate import evaluate
from training.evaluation.frames import EvaluationFrame, phantom_evaluation_frames
from training.evaluation.report import write_report
from training.evaluation.results import Evaluation

__all__ = ["Evaluation", "EvaluationFrame", "evaluate", "phantom_evaluation_frames", "write_report"]
