"""The active-learning experiment end to end at tiny sizes: one round, four frames, one epoch."""

import json

from bench.active_learning import (
    STRATEGIES,
    ExperimentConfig,
    clip_split,
    run_experiment,
    write_outputs,
)

TINY = ExperimentConfig(
    starter_clips=1,
    validation_clips=1,
    holdout_clips=1,
    pool_clips=2,
    frame_step=10,
    clip_duration_s=1.0,
    width_px=192,
    height_px=160,
    rounds=1,
    batch_frames=4,
    starter_epochs=1,
    finetune_epochs=1,
    uncertainty_passes=2,
    min_region_px=4,
    input_size=64,
    channels=(4, 8, 16),
    strides=(2, 2),
)


def test_clip_roles_never_share_a_clip():
    split = clip_split(ExperimentConfig())

    seeds = [seed for role in ("starter", "validation", "holdout", "pool") for seed in split[role]]

    assert len(seeds) == len(set(seeds))
    assert len(split["pool"]) == ExperimentConfig().pool_clips


def test_tiny_experiment_reports_every_strategy_and_writes_its_outputs(tmp_path):
    results = run_experiment(TINY, tmp_path / "stores")
    write_outputs(results, tmp_path / "out")

    roles = {role: set(seeds) for role, seeds in results["clips"].items()}
    assert not roles["pool"] & (roles["holdout"] | roles["validation"] | roles["starter"])
    assert not roles["holdout"] & (roles["validation"] | roles["starter"])
    assert not roles["validation"] & roles["starter"]
    assert set(results["strategies"]) == set(STRATEGIES)
    for rounds in results["strategies"].values():
        (only,) = rounds
        assert only["frames_annotated"] == 4 and len(only["chosen"]) == 4
        assert {seed for seed, _ in only["chosen"]} <= roles["pool"]
        assert 0.0 <= only["edit_share"]["overall"] <= 1.0
        assert 0.0 <= only["holdout"]["accuracy"] <= 1.0
        assert isinstance(only["promoted"], bool)
    assert results["frames"]["pool"] == 2 * 3
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert written == {"results.json", "learning-curve.png", "edit-share.png", "README.md"}
    assert json.loads((tmp_path / "out" / "results.json").read_text())["settings"]["rounds"] == 1
