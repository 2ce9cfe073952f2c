"""Reading real clips: frame counts, sizes and times as each file declares them."""

import pytest

from upload.clips import open_clip
from upload.errors import ClipError


@pytest.mark.parametrize(
    ("name", "frames", "width", "height", "fps"),
    [
        ("butterfly-ocular-phantom.mp4", 369, 776, 1080, 4428 / 349),
        ("clarius-ocular-short.mp4", 50, 1280, 960, 25.0),
    ],
)
def test_real_video_clip_matches_its_container(real_clips_dir, name, frames, width, height, fps):
    clip = open_clip(real_clips_dir / name)
    decoded = list(clip.frames())

    assert clip.header.declared_frames == frames
    assert len(decoded) == frames
    assert {f.pixels.shape for f in decoded} == {(height, width, 3)}
    assert clip.header.fps == pytest.approx(fps, rel=1e-6)
    times = [f.time_s for f in decoded]
    assert times[0] == 0.0
    assert all(b > a for a, b in zip(times, times[1:]))
    assert clip.header.duration_s - 2 / fps < times[-1] < clip.header.duration_s


def test_butterfly_clip_keeps_its_irregular_frame_times(real_clips_dir):
    """The Butterfly export's steps are 0.0767 s and 0.0733 s, not a constant 1/12.7 s."""
    times = [f.time_s for f in open_clip(real_clips_dir / "butterfly-ocular-phantom.mp4").frames()]

    steps = {round(b - a, 4) for a, b in zip(times, times[1:])}

    assert len(steps) > 1


def test_sonosite_dicom_cine_decodes_all_frames_in_colour(sonosite_dicom):
    clip = open_clip(sonosite_dicom)
    decoded = list(clip.frames())

    assert clip.header.declared_frames == 120
    assert len(decoded) == 120
    assert decoded[0].pixels.shape == (480, 640, 3)
    assert decoded[1].time_s == pytest.approx(0.033333, abs=1e-6)
    assert decoded[-1].time_s == pytest.approx(119 * 0.033333, abs=1e-4)
    assert clip.header.duration_s == pytest.approx(4.0, abs=1e-3)
    assert clip.header.imaging_region == (84, 31, 596, 415)
    assert clip.header.spacing_mm_per_px == pytest.approx(0.5105, abs=1e-4)


def test_a_corrupt_video_is_refused_with_its_name(tmp_path, real_clips_dir):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes((real_clips_dir / "clarius-ocular-short.mp4").read_bytes()[:3000])

    with pytest.raises(ClipError) as raised:
        clip = open_clip(broken)
        list(clip.frames())

    assert "broken.mp4" in str(raised.value)


def test_a_truncated_dicom_is_refused_with_its_name(tmp_path, sonosite_dicom):
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(sonosite_dicom.read_bytes()[:200_000])

    with pytest.raises(ClipError) as raised:
        list(open_clip(truncated).frames())

    assert "truncated.dcm" in str(raised.value)


def test_an_unknown_file_type_is_refused(tmp_path):
    notes = tmp_path / "notes.docx"
    notes.write_bytes(b"not a clip")

    with pytest.raises(ClipError, match="unsupported file type"):
        open_clip(notes)
