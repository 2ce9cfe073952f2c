"""From clips to stored frames: imaging region, pseudonyms, a batch that survives bad files."""

import csv

import cv2
import numpy as np
import pytest

from label_config import LONG_AXIS
from tests.upload.plans import SITE_KEY, upload_plan
from training.phantom import generate_clip
from upload.batch import ingest_folder
from upload.frames import IngestSettings, ingest_clip
from upload.imaging_region import MotionAccumulator, NoImagingRegion
from upload.pseudonyms import clip_pseudonym
from upload.selection import FrameSelection
from upload.sidecar import read_sidecar
from upload.storage import LocalFrameStore


def moving_frames_with_static_header(n_frames: int = 12) -> list[np.ndarray]:
    """(60, 80) frames: rows 0-9 a fixed header, rows 15-59 x 10-69 fresh noise each frame."""
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(n_frames):
        frame = np.zeros((60, 80), np.uint8)
        frame[0:10, :] = 200
        frame[15:60, 10:70] = rng.integers(0, 255, (45, 60), dtype=np.uint8)
        frames.append(frame)
    return frames


def test_imaging_region_is_the_box_that_moves():
    motion = MotionAccumulator()
    for frame in moving_frames_with_static_header():
        motion.add(frame)

    region = motion.region()

    assert (region.x0, region.y0, region.x1, region.y1) == (10, 15, 70, 60)
    assert region.blanked_share(60, 80) == pytest.approx(1 - (60 * 45) / (60 * 80))


def test_blanking_removes_the_static_header():
    frames = moving_frames_with_static_header()
    motion = MotionAccumulator()
    for frame in frames:
        motion.add(frame)

    blanked = motion.region().blank_outside(frames[0])

    assert blanked[0:10].max() == 0
    assert np.array_equal(blanked[15:60, 10:70], frames[0][15:60, 10:70])


def test_frames_that_never_change_have_no_imaging_region():
    motion = MotionAccumulator()
    for _ in range(5):
        motion.add(np.full((40, 40), 90, np.uint8))

    with pytest.raises(NoImagingRegion):
        motion.region()


def test_pseudonyms_are_stable_and_keyed():
    digest = "ab" * 32

    assert clip_pseudonym(SITE_KEY, digest) == clip_pseudonym(SITE_KEY, digest)
    assert clip_pseudonym(SITE_KEY, digest) != clip_pseudonym(bytes(32), digest)
    assert clip_pseudonym(SITE_KEY, digest).startswith("clip-")


def test_real_clip_frames_are_stored_blanked_every_kth(tmp_path, real_clips_dir):
    clip = real_clips_dir / "clarius-ocular-short.mp4"
    settings = IngestSettings(FrameSelection(step=10))

    report = ingest_clip(clip, LocalFrameStore(tmp_path), SITE_KEY, settings)

    assert report.frames_decoded == 50
    assert [f.frame_index for f in report.frames] == [0, 10, 20, 30, 40]
    assert [f.time_s for f in report.frames] == pytest.approx([0.0, 0.4, 0.8, 1.2, 1.6])
    assert 0.2 < report.blanked_share < 0.8
    stored = cv2.imread(str(tmp_path / report.frames[0].storage_key), cv2.IMREAD_UNCHANGED)
    assert stored.shape[:2] == (960, 1280)
    assert "clarius" not in report.frames[0].storage_key


def test_dicom_frames_are_cut_to_the_declared_ultrasound_region(tmp_path, sonosite_dicom):
    settings = IngestSettings(FrameSelection(step=30))
    report = ingest_clip(sonosite_dicom, LocalFrameStore(tmp_path), SITE_KEY, settings)

    stored = cv2.imread(str(tmp_path / report.frames[0].storage_key), cv2.IMREAD_UNCHANGED)

    assert len(report.frames) == 4
    assert stored[:31].max() == 0 and stored[415:].max() == 0
    assert stored[:, :84].max() == 0 and stored[:, 596:].max() == 0
    assert stored[31:415, 84:596].max() > 0
    assert report.frames[0].spacing_mm_per_px == pytest.approx(0.5105, abs=1e-4)


def test_a_bad_clip_does_not_stop_the_batch(tmp_path, real_clips_dir):
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "good.mp4").write_bytes((real_clips_dir / "clarius-ocular-short.mp4").read_bytes())
    (clips / "bad.mp4").write_bytes(b"\x00" * 4096)

    report = ingest_folder(clips, upload_plan(tmp_path, FrameSelection(step=25)))

    assert [c.source.name for c in report.failures] == ["bad.mp4"]
    assert "not a readable video" in report.failures[0].error
    assert len(report.frames) == 2
    pseudonym_map = tmp_path / "pseudonyms.csv"
    with open(pseudonym_map) as stream:
        rows = list(csv.DictReader(stream))
    assert [r["source"].endswith("good.mp4") for r in rows] == [True]
    assert oct(pseudonym_map.stat().st_mode & 0o777) == "0o600"


def test_view_comes_from_sidecar_or_folder(tmp_path):
    in_folder = tmp_path / "short_axis" / "a.mp4"
    in_folder.parent.mkdir()
    with_sidecar = tmp_path / "b.mp4"
    (tmp_path / "b.json").write_text('{"view": "long_axis"}')

    assert read_sidecar(in_folder).view == "short_axis"
    assert read_sidecar(with_sidecar).view == "long_axis"
    assert read_sidecar(tmp_path / "c.mp4").view == "unknown"


def test_a_still_keeps_its_speckled_image_and_loses_its_text(tmp_path):
    clip = generate_clip(71, LONG_AXIS)
    rendered = clip.render(0).image
    x0, y0, x1, y1 = clip.imaging_region
    clips = tmp_path / "clips"
    clips.mkdir()
    cv2.imwrite(str(clips / "still.png"), rendered)

    report = ingest_folder(clips, upload_plan(tmp_path, FrameSelection()))

    stored = cv2.imread(
        str(tmp_path / "media" / report.frames[0].storage_key), cv2.IMREAD_GRAYSCALE
    )
    assert report.failures == []
    assert rendered[:y0].max() > 0 and stored[:y0].max() == 0
    kept = stored[y0:y1, x0:x1] == rendered[y0:y1, x0:x1]
    assert kept.mean() > 0.95
