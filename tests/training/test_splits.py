import json

import pytest

from label_config import LONG_AXIS, SHORT_AXIS
from training.splits import ClipRef, SplitError, SplitFile


def clips(n: int, view: str, prefix: str = "clip") -> list[ClipRef]:
    return [ClipRef(f"{prefix}-{view}-{i}", view) for i in range(n)]


def test_a_clip_is_on_exactly_one_side(tmp_path):
    split = SplitFile(tmp_path / "split.json").assign(clips(20, LONG_AXIS) + clips(20, SHORT_AXIS))

    sides = [split.training, split.validation, split.test]
    for i, one in enumerate(sides):
        for other in sides[i + 1 :]:
            assert not one & other
    assert len(split.training | split.validation | split.test) == 40


def test_each_view_is_split_about_sixty_twenty_twenty(tmp_path):
    split = SplitFile(tmp_path / "split.json").assign(clips(20, LONG_AXIS) + clips(20, SHORT_AXIS))

    for view in (LONG_AXIS, SHORT_AXIS):
        counts = [
            sum(view in clip_id for clip_id in side)
            for side in (split.training, split.validation, split.test)
        ]
        assert sum(counts) == 20
        for count, share in zip(counts, (12, 4, 4)):
            assert abs(count - share) <= 1, (view, counts)


def test_two_clips_give_one_to_train_on_and_one_to_validate_on(tmp_path):
    split = SplitFile(tmp_path / "split.json").assign(
        [ClipRef("a", LONG_AXIS), ClipRef("b", SHORT_AXIS)]
    )

    assert len(split.training) == len(split.validation) == 1 and not split.test


def test_clips_of_one_infant_stay_together(tmp_path):
    refs = [ClipRef(f"c{i}", LONG_AXIS, infant_id=f"infant-{i // 3}") for i in range(30)]

    split = SplitFile(tmp_path / "split.json").assign(refs)

    for infant in range(10):
        members = {f"c{i}" for i in range(infant * 3, infant * 3 + 3)}
        assert (
            sum(bool(members & side) for side in (split.training, split.validation, split.test))
            == 1
        )
        assert any(members <= side for side in (split.training, split.validation, split.test))


def test_sides_never_move_when_clips_arrive_later(tmp_path):
    path = tmp_path / "split.json"
    first = SplitFile(path).assign(clips(5, LONG_AXIS))

    later = SplitFile(path).assign(clips(5, LONG_AXIS) + clips(15, LONG_AXIS, prefix="new"))

    assert first.test <= later.test and first.training <= later.training
    assert first.validation <= later.validation
    # A later clip of an infant already split joins that infant's side.
    infant_path = tmp_path / "infants.json"
    early = SplitFile(infant_path).assign([ClipRef("a", LONG_AXIS, "baby")])
    grown = SplitFile(infant_path).assign([ClipRef("b", SHORT_AXIS, "baby")] + clips(9, SHORT_AXIS))
    assert grown.side_of("b") == early.side_of("a")


def test_the_same_clips_split_the_same_in_any_order(tmp_path):
    refs = clips(12, LONG_AXIS) + clips(12, SHORT_AXIS)

    forward = SplitFile(tmp_path / "a.json").assign(refs)
    backward = SplitFile(tmp_path / "b.json").assign(reversed(refs))

    assert forward == backward


def test_a_clip_cannot_change_infant_once_split(tmp_path):
    path = tmp_path / "split.json"
    SplitFile(path).assign([ClipRef("c1", LONG_AXIS, "infant-a")])

    with pytest.raises(SplitError, match="c1"):
        SplitFile(path).assign([ClipRef("c1", LONG_AXIS, "infant-b")])


def test_a_damaged_or_different_split_file_is_refused(tmp_path):
    path = tmp_path / "split.json"
    path.write_text("{not json")
    with pytest.raises(SplitError, match="split.json"):
        SplitFile(path).assign(clips(3, LONG_AXIS))

    path.write_text(json.dumps({"format": 1, "fractions": {"training": 1.0}, "clips": {}}))
    with pytest.raises(SplitError, match="fractions"):
        SplitFile(path).read()

    path.unlink()
    SplitFile(path).assign(clips(3, LONG_AXIS))
    other = {"training": 0.5, "validation": 0.25, "test": 0.25}
    with pytest.raises(SplitError, match="never changes"):
        SplitFile(path, other).assign(clips(3, LONG_AXIS))
