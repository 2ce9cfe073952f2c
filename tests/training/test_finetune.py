"""Fine-tuning the champion on annotated frames, and the by-clip split those frames go through."""

import json

import pytest
import torch

from tests.phantom_annotations import TINY_SPEC, PhantomSource
from training.annotation_dataset import (
    AnnotatedFrame,
    DatasetError,
    build_samples,
    clip_refs,
    split_frames,
)
from training.annotations import FrameAnnotation
from training.finetune import FinetuneConfig, finetune_from_champion
from training.model import build_network
from training.splits import SplitFile
from training.store import ModelStore


def frames_of(clip_ids, frames_per_clip=5) -> list[AnnotatedFrame]:
    return [
        AnnotatedFrame(n, None, clip, i, f"url/{n}", FrameAnnotation(task_id=n, annotator="u"))
        for n, (clip, i) in enumerate((c, i) for c in clip_ids for i in range(frames_per_clip))
    ]


def test_split_never_puts_one_clip_on_both_sides_and_leaves_test_clips_out(tmp_path):
    frames = frames_of([f"clip-{k}" for k in range(40)])
    split = SplitFile(tmp_path / "split.json").assign(clip_refs(frames))

    training, validation = split_frames(frames, split)

    training_clips = {f.clip_id for f in training}
    validation_clips = {f.clip_id for f in validation}
    assert training_clips and validation_clips and split.test
    assert not training_clips & validation_clips
    assert not (training_clips | validation_clips) & split.test
    assert len(training) + len(validation) + 5 * len(split.test) == len(frames)


def test_the_split_file_keeps_each_clip_where_it_first_fell(tmp_path):
    path = tmp_path / "split.json"
    frames = frames_of([f"clip-{k}" for k in range(20)])
    first = split_frames(frames, SplitFile(path).assign(clip_refs(frames)))

    more = frames_of([f"clip-{k}" for k in range(40)])
    second = split_frames(more, SplitFile(path).assign(clip_refs(reversed(more))))

    assert {f.clip_id for f in first[1]} <= {f.clip_id for f in second[1]}
    assert {f.clip_id for f in first[0]} <= {f.clip_id for f in second[0]}


def test_samples_letterbox_frames_and_give_unpainted_structures_zero_masks():
    source = PhantomSource(seeds=(0,), indices=(0,))
    frame = source.annotated_frames()[0]
    frame.annotation.masks.pop("csf")

    samples = build_samples([frame], source.load_gray, TINY_SPEC)

    assert samples.images.shape == (1, 1, 64, 64)
    assert samples.masks.shape == (1, len(TINY_SPEC.structures), 64, 64)
    assert samples.masks[0, TINY_SPEC.structures.index("csf")].sum() == 0
    assert samples.masks[0, TINY_SPEC.structures.index("spinous_process")].sum() > 0
    assert samples.snapshot()["task_ids"] == [frame.task_id]


def test_samples_of_no_frames_are_refused():
    with pytest.raises(DatasetError, match="annotate more clips"):
        build_samples([], lambda url: None, TINY_SPEC)


def test_finetune_saves_a_candidate_with_parent_snapshot_and_metrics(tmp_path):
    torch.manual_seed(0)
    store = ModelStore(tmp_path / "models")
    champion = store.save(build_network(TINY_SPEC), TINY_SPEC, {"trained_on": "nothing"})
    store.promote(champion)
    source = PhantomSource()
    frames = source.annotated_frames()
    training, validation = split_frames(
        frames, SplitFile(tmp_path / "split.json").assign(clip_refs(frames))
    )
    samples = build_samples(training, source.load_gray, TINY_SPEC)
    validation_samples = build_samples(validation, source.load_gray, TINY_SPEC)

    version, metrics = finetune_from_champion(
        store, samples, validation_samples, FinetuneConfig(epochs=2, batch_size=4)
    )

    described = json.loads((store.root / version / "model.json").read_text())
    assert store.champion() == champion and version != champion
    assert described["parent_version"] == champion
    snapshot = described["data_snapshot"]
    assert snapshot["validation"]["clip_ids"] == sorted({f.clip_id for f in validation})
    assert snapshot["training"]["clip_ids"] == sorted({f.clip_id for f in training})
    assert not set(snapshot["validation"]["clip_ids"]) & set(snapshot["training"]["clip_ids"])
    assert [r["epoch"] for r in described["history"]] == [1, 2]
    assert described["validation_dice"] == metrics.validation_dice
    assert metrics.epochs == 2
    assert set(metrics.validation_dice) <= set(TINY_SPEC.structures)
