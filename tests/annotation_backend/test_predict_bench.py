"""The prediction benchmark's arithmetic, on hand-made timings; no server is started."""

import pytest

from bench.predict_latency import latency_summary, over_floor, percentile, ratio


def test_percentile_interpolates_between_closest_ranks():
    values = [4.0, 1.0, 3.0, 2.0, 5.0]

    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == pytest.approx(4.8)
    assert percentile(values, 100) == 5.0


def test_percentile_of_one_value_is_that_value_and_of_none_is_an_error():
    assert percentile([0.25], 95) == 0.25
    with pytest.raises(ValueError):
        percentile([], 50)


def test_latency_summary_reports_milliseconds():
    summary = latency_summary([0.010, 0.020, 0.030])

    assert summary == {"p50_ms": 20.0, "p95_ms": 29.0, "n": 3}


def test_ratio_rounds_and_refuses_a_zero_denominator():
    assert ratio(30.0, 12.0) == 2.5
    assert ratio(1.0, 3.0) == 0.33
    assert ratio(5.0, 0.0) is None


def test_over_floor_divides_backend_by_floor_per_size_and_percentile():
    floors = {"1": {"p50_ms": 10.0, "p95_ms": 20.0}, "32": {"p50_ms": 100.0, "p95_ms": 200.0}}
    latency = {"1": {"p50_ms": 50.0, "p95_ms": 30.0}, "32": {"p50_ms": 400.0, "p95_ms": 300.0}}

    assert over_floor(latency, floors) == {
        "1": {"p50_ms": 5.0, "p95_ms": 1.5},
        "32": {"p50_ms": 4.0, "p95_ms": 1.5},
    }
