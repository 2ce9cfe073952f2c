"""Proportions with confidence intervals, error summaries and calibration of presence scores."""

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import binomtest

CONFIDENCE_LEVEL = 0.95
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Proportion:
    """``successes`` of ``trials`` with its 95% Wilson score interval; None values when n = 0."""

    successes: int
    trials: int
    value: float | None
    low: float | None
    high: float | None

    def to_json(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        """``0.950 (95/100; 95% CI 0.888-0.978)``, or ``-`` when there were no trials."""
        if self.trials == 0:
            return "- (0/0)"
        return (
            f"{self.value:.3f} ({self.successes}/{self.trials}; "
            f"95% CI {self.low:.3f}-{self.high:.3f})"
        )


def proportion(successes: int, trials: int) -> Proportion:
    """A proportion and its Wilson score interval (scipy ``binomtest``), two-sided 95%."""
    if trials == 0:
        return Proportion(0, 0, None, None, None)
    interval = binomtest(successes, trials).proportion_ci(CONFIDENCE_LEVEL, method="wilson")
    low, high = float(interval.low), float(interval.high)
    return Proportion(successes, trials, successes / trials, low, high)


def proportion_of(flags: Sequence[bool]) -> Proportion:
    return proportion(int(sum(flags)), len(flags))


@dataclass(frozen=True)
class ErrorSummary:
    """Signed errors (predicted - truth) of a measure over the frames where both sides had one.

    ``mean_absolute``, ``median_absolute`` and ``p95_absolute`` summarise |error|; ``bias`` is
    the mean signed error. All None when no frame was measured on both sides.
    """

    n: int
    mean_absolute: float | None
    median_absolute: float | None
    p95_absolute: float | None
    bias: float | None

    def to_json(self) -> dict:
        return asdict(self)


def error_summary(errors: Sequence[float]) -> ErrorSummary:
    if not errors:
        return ErrorSummary(0, None, None, None, None)
    signed = np.asarray(errors, float)
    absolute = np.abs(signed)
    return ErrorSummary(
        n=len(errors),
        mean_absolute=float(absolute.mean()),
        median_absolute=float(np.median(absolute)),
        p95_absolute=float(np.percentile(absolute, 95)),
        bias=float(signed.mean()),
    )


@dataclass(frozen=True)
class CalibrationBin:
    """Scores in [low, high): how many, their mean, and the share of them truly present."""

    low: float
    high: float
    count: int
    mean_score: float | None
    observed_fraction: float | None


@dataclass(frozen=True)
class Calibration:
    bins: tuple[CalibrationBin, ...]
    expected_calibration_error: float | None
    """Sum over bins of (bin share of scores) x |observed fraction - mean score|; None when
    there are no scores."""

    def to_json(self) -> dict:
        return asdict(self)


def calibration(
    scores: Sequence[float], present: Sequence[bool], n_bins: int = CALIBRATION_BINS
) -> Calibration:
    """Reliability of presence scores in [0, 1] against the expert's presence, equal-width bins
    (a score of exactly 1 falls in the last bin)."""
    scores_array, present_array = np.asarray(scores, float), np.asarray(present, bool)
    bin_index = np.minimum((scores_array * n_bins).astype(int), n_bins - 1)
    bins, gap = [], 0.0
    for index in range(n_bins):
        inside = bin_index == index
        count = int(inside.sum())
        mean_score = float(scores_array[inside].mean()) if count else None
        observed = float(present_array[inside].mean()) if count else None
        if count:
            gap += count * abs(observed - mean_score)
        bins.append(
            CalibrationBin(index / n_bins, (index + 1) / n_bins, count, mean_score, observed)
        )
    ece = gap / len(scores_array) if len(scores_array) else None
    return Calibration(tuple(bins), ece)


def mean_or_none(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def finite_or_none(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
