"""Frame selection settings, calibration from sidecars, and re-runs after a crash."""

import dataclasses
import json
import shutil

import numpy as np
import pytest

from label_config import LONG_AXIS
from tests.upload.plans import upload_plan
from training.phantom import generate_clip, write_mp4
from upload.batch import ingest_folder
from upload.selection import FrameSelection, FrameSelector, SelectionMode
from upload.storage import LocalFrameStore


def selected(selection: FrameSelection, frames) -> list[int]:
    selector = FrameSelector(selection)
    return [i for i, pixels in enumerate(frames) if selector.keep(i, pixels)]


def test_every_kth_and_all_respect_the_per_clip_maximum():
    frames = [np.zeros((8, 8), np.uint8)] * 25

    assert selected(FrameSelection(SelectionMode.EVERY_KTH, step=10), frames) == [0, 10, 20]
    assert selected(FrameSelection(SelectionMode.ALL, max_frames=4), frames) == [0, 1, 2, 3]


def test_content_change_keeps_a_frame_only_when_the_picture_changed():
    still, moved = np.full((64, 64), 50, np.uint8), np.full((64, 64), 90, np.uint8)
    frames = [still, still, still, moved, moved, still]

    assert selected(FrameSelection(SelectionMode.CONTENT_CHANGE), frames) == [0, 3, 5]


def test_invalid_selection_settings_are_refused():
    with pytest.raises(ValueError):
        FrameSelection(step=0)


@pytest.fixture(scope="module")
def phantom_mp4(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phantom")
    return write_mp4(generate_clip(51, LONG_AXIS, duration_s=1.0), folder / "a.mp4")


def test_depth_in_a_sidecar_calibrates_a_video(tmp_path, phantom_mp4):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(phantom_mp4, clips / "a.mp4")
    (clips / "a.json").write_text(json.dumps({"view": "long_axis", "depth_mm": 30}))

    report = ingest_folder(clips, upload_plan(tmp_path, FrameSelection(step=10)))

    frame = report.frames[0]
    clip = generate_clip(51, LONG_AXIS, duration_s=1.0)
    region_height_px = clip.imaging_region[3] - clip.imaging_region[1]
    assert frame.view == "long_axis"
    assert frame.spacing_mm_per_px == pytest.approx(30 / region_height_px, rel=0.03)


def test_a_bad_sidecar_fails_its_clip_with_the_reason(tmp_path, phantom_mp4):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(phantom_mp4, clips / "a.mp4")
    (clips / "a.json").write_text('{"view": "sideways"}')

    report = ingest_folder(clips, upload_plan(tmp_path, FrameSelection(step=10)))

    assert "view must be one of" in report.failures[0].error


class CrashingStore(LocalFrameStore):
    """Fails every write to one clip's frames, as a full disk or a lost connection would."""

    def __init__(self, root, failing_prefix: str):
        super().__init__(root)
        self.failing_prefix = failing_prefix

    def put(self, key, content, content_type):
        if key.startswith(self.failing_prefix):
            raise OSError(28, "No space left on device")
        super().put(key, content, content_type)


def test_a_rerun_after_a_crash_stores_only_what_is_missing(tmp_path, phantom_mp4):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(phantom_mp4, clips / "a.mp4")
    write_mp4(generate_clip(52, LONG_AXIS, duration_s=1.0), clips / "b.mp4")
    plan = upload_plan(tmp_path, FrameSelection(step=10))
    complete = ingest_folder(clips, plan)
    failing_clip = complete.clips[1].clip_id
    shutil.rmtree(tmp_path / "media")
    shutil.rmtree(tmp_path / "manifests")
    crashing_store = CrashingStore(tmp_path / "media", f"frames/{failing_clip}")
    crashing = dataclasses.replace(plan, store=crashing_store)

    crashed = ingest_folder(clips, crashing)
    resumed = ingest_folder(clips, plan)
    again = ingest_folder(clips, plan)

    assert [c.error is None for c in crashed.clips] == [True, False]
    assert "No space left" in crashed.clips[1].error
    assert [c.reused for c in resumed.clips] == [True, False]
    assert [c.reused for c in again.clips] == [True, True]
    assert again.frames == complete.frames
    stored = sorted(p.name for p in (tmp_path / "media").rglob("*.png"))
    assert len(stored) == len(complete.frames) == 6


def test_other_settings_ingest_the_clip_again(tmp_path, phantom_mp4):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(phantom_mp4, clips / "a.mp4")

    first = ingest_folder(clips, upload_plan(tmp_path, FrameSelection(step=10)))
    coarser = ingest_folder(clips, upload_plan(tmp_path, FrameSelection(step=15)))

    assert not coarser.clips[0].reused
    assert [f.frame_index for f in coarser.frames] == [0, 15]
    assert len(first.frames) == 3
