"""Monte Carlo dropout uncertainty: hand-computed entropies and the behaviour of the score."""

import numpy as np
import pytest
import torch

from training.model import Letterbox, ModelSpec, build_network
from training.phantom import generate_clip
from training.store import SegmentationModel
from training.uncertainty import (
    binary_entropy_bits,
    mc_dropout_probabilities,
    mutual_information_bits,
    on_network_grid,
    uncertainty_score,
)


def seeded_model(dropout: float) -> SegmentationModel:
    torch.manual_seed(0)
    spec = ModelSpec(dropout=dropout)
    return SegmentationModel("v0001", spec, build_network(spec).eval(), {})


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return generate_clip(3, "long_axis", duration_s=1.0).render(0).image


def score_of(model: SegmentationModel, gray: np.ndarray) -> float:
    return uncertainty_score(mc_dropout_probabilities(model, gray, passes=8))


def test_binary_entropy_matches_hand_computed_bits():
    entropy = binary_entropy_bits(np.array([0.0, 0.5, 1.0, 0.25]))

    assert entropy == pytest.approx([0.0, 1.0, 0.0, 0.811278], abs=1e-6)


def test_mutual_information_of_a_hand_built_stack():
    samples = np.array([[0.0, 0.5, 0.2], [1.0, 0.5, 0.8]])  # (T=2, 3 pixels)

    information = mutual_information_bits(samples)

    assert information == pytest.approx([1.0, 0.0, 1.0 - 0.721928], abs=1e-6)


def test_score_averages_over_predicted_and_unsure_pixels_only():
    # pixel 0: passes disagree (unsure, 1 bit); 1: confidently absent; 2: confidently present.
    samples = np.array([[0.0, 0.0, 0.9], [1.0, 0.0, 0.9]]).reshape(2, 1, 1, 3)

    assert uncertainty_score(samples) == pytest.approx(1.0 - (1.0 + 0.0) / 2)


def test_score_of_a_frame_with_nothing_predicted_or_unsure_is_one():
    assert uncertainty_score(np.zeros((4, 2, 3, 3))) == 1.0


def test_without_dropout_every_pass_agrees_and_the_score_is_one(frame):
    samples = mc_dropout_probabilities(seeded_model(0.0), frame, passes=4)

    assert mutual_information_bits(samples).max() == pytest.approx(0.0, abs=1e-9)
    assert uncertainty_score(samples) == pytest.approx(1.0, abs=1e-9)


def test_with_dropout_the_score_is_below_one_and_within_range(frame):
    score = score_of(seeded_model(0.1), frame)

    assert 0.0 <= score < 1.0


def test_the_same_frame_gets_the_same_score_twice(frame):
    model = seeded_model(0.1)

    assert score_of(model, frame) == score_of(model, frame)


def test_sampling_leaves_the_served_network_and_global_random_state_alone(frame):
    model = seeded_model(0.1)
    before, rng_state = model.predict_probabilities(frame), torch.get_rng_state()

    mc_dropout_probabilities(model, frame, passes=2)

    assert not model.network.training
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert np.array_equal(model.predict_probabilities(frame), before)


def test_samples_and_frame_maps_share_the_network_grid(frame):
    model = seeded_model(0.1)
    grid = Letterbox(*frame.shape, model.spec.input_size).scaled_hw

    samples = mc_dropout_probabilities(model, frame, passes=2, channels=[0, 4])

    assert samples.shape == (2, 2, *grid)
    assert on_network_grid(np.ones(frame.shape), model.spec.input_size).shape == grid


def test_zero_passes_is_refused(frame):
    with pytest.raises(ValueError, match="at least 1 pass"):
        mc_dropout_probabilities(seeded_model(0.1), frame, passes=0)
