"""Reading real clips and the pydicom test files: frame counts, sizes, times and colours as each
file declares them; empty, random, truncated and foreign files refused with ClipError.
"""

from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import JPEG2000Lossless

from tests.upload.make_clips import (
    marked_frames,
    write_dicom,
    write_jpeg_dicom,
    write_palette_dicom,
    write_still,
    write_video,
)
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


def pydicom_file(name: str) -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file(name))


@pytest.mark.parametrize(
    ("name", "frames", "shape"),
    [
        ("examples_ybr_color.dcm", 30, (240, 320, 3)),  # US cine, JPEG baseline YBR_FULL_422
        ("OBXXXX1A_rle_2frame.dcm", 2, (600, 800, 3)),  # US, RLE, palette colour
        ("OBXXXX1A_expb_2frame.dcm", 2, (600, 800, 3)),  # big endian
        ("examples_palette.dcm", 1, (350, 800, 3)),
        ("gdcm-US-ALOKA-16.dcm", 1, (480, 640, 3)),  # 16-bit palette, implicit VR
        ("US1_J2KR.dcm", 1, (480, 640, 3)),  # JPEG 2000 lossless, YBR_RCT
        ("US1_J2KI.dcm", 1, (480, 640, 3)),  # JPEG 2000, YBR_ICT
        ("JPGLosslessP14SV1_1s_1f_8b.dcm", 1, (768, 1024)),  # US, JPEG lossless
        ("examples_rgb_color.dcm", 1, (240, 320, 3)),
        ("color-pl.dcm", 1, (120, 256, 3)),  # planar configuration 1
        ("emri_small_RLE.dcm", 10, (64, 64)),  # 12-bit in 16
        ("emri_small_jpeg_ls_lossless.dcm", 10, (64, 64)),
        ("emri_small_jpeg_2k_lossless.dcm", 10, (64, 64)),
        ("SC_rgb_rle_16bit_2frame.dcm", 2, (100, 100, 3)),
        ("SC_rgb_32bit_2frame.dcm", 2, (100, 100, 3)),
        ("JPEGLSNearLossless_08.dcm", 1, (45, 10)),
        ("liver.dcm", 3, (512, 512)),  # 1 bit per pixel
        ("image_dfl.dcm", 1, (512, 512)),  # deflated
        ("OT-PAL-8-face.dcm", 1, (480, 640, 3)),  # no File Meta Information, palette colour
        ("MR_small_padded.dcm", 1, (64, 64)),  # pixel data padded past its one frame
    ],
)
def test_pydicom_test_files_decode_with_their_frame_count_and_shape(name, frames, shape):
    clip = open_clip(pydicom_file(name))
    decoded = list(clip.frames())

    assert clip.header.declared_frames == frames
    assert len(decoded) == frames
    assert {f.pixels.shape for f in decoded} == {shape}
    assert {f.pixels.dtype for f in decoded} == {np.dtype(np.uint8)}
    assert max(int(f.pixels.max()) for f in decoded) > 0


@pytest.mark.parametrize(
    ("name", "reference", "tolerance"),
    [
        ("US1_J2KR.dcm", "US1_UNCR.dcm", 0),
        ("US1_J2KI.dcm", "US1_UNCI.dcm", 0),
        ("emri_small_jpeg_2k_lossless.dcm", "emri_small.dcm", 0),
        ("emri_small_big_endian.dcm", "emri_small.dcm", 0),
        ("OBXXXX1A_rle_2frame.dcm", "OBXXXX1A_2frame.dcm", 0),
        # Its tables hold 8-bit values in 16-bit words; the little-endian copy holds 16-bit ones.
        ("OBXXXX1A_expb_2frame.dcm", "OBXXXX1A_2frame.dcm", 1),
        ("gdcm-US-ALOKA-16_big.dcm", "gdcm-US-ALOKA-16.dcm", 0),
        ("SC_rgb_rle_16bit_2frame.dcm", "SC_rgb_2frame.dcm", 0),
        ("SC_rgb_dcmtk_+eb+cy+s2.dcm", "SC_rgb.dcm", 6),  # JPEG, YBR_FULL_422
        ("SC_ybr_full_422_uncompressed.dcm", "SC_rgb.dcm", 6),
    ],
)
def test_encoded_pydicom_files_match_their_plain_twin(name, reference, tolerance):
    decoded = np.stack([f.pixels for f in open_clip(pydicom_file(name)).frames()])
    expected = np.stack([f.pixels for f in open_clip(pydicom_file(reference)).frames()])

    assert decoded.shape == expected.shape
    assert int(np.abs(decoded.astype(int) - expected).max()) <= tolerance


def test_sc_rgb_colour_bands_decode_to_their_colours():
    """SC_rgb.dcm rows 0-9 are pure red, 20-29 pure green, 40-49 pure blue."""
    pixels = next(iter(open_clip(pydicom_file("SC_rgb_dcmtk_+eb+cy+s2.dcm")).frames())).pixels

    assert pixels[5, 50].tolist() == pytest.approx([255, 0, 0], abs=6)
    assert pixels[25, 50].tolist() == pytest.approx([0, 255, 0], abs=6)
    assert pixels[45, 50].tolist() == pytest.approx([0, 0, 255], abs=6)


SUFFIXES = [".mp4", ".mov", ".avi", ".mkv", ".dcm", "", ".png", ".jpg"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_an_empty_file_is_refused_with_its_name(tmp_path, suffix):
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"")

    with pytest.raises(ClipError) as raised:
        list(open_clip(empty).frames())

    assert raised.value.path == empty and raised.value.reason


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_random_bytes_are_refused_with_their_name(tmp_path, suffix):
    noise = tmp_path / f"noise{suffix}"
    noise.write_bytes(np.random.default_rng(7).integers(0, 256, 20_000, np.uint8).tobytes())

    with pytest.raises(ClipError) as raised:
        list(open_clip(noise).frames())

    assert raised.value.path == noise and raised.value.reason


def test_a_dicom_preamble_followed_by_noise_is_refused(tmp_path):
    noise = tmp_path / "noise.dcm"
    rng = np.random.default_rng(3)
    noise.write_bytes(bytes(128) + b"DICM" + rng.integers(0, 256, 5000, np.uint8).tobytes())

    with pytest.raises(ClipError, match="noise.dcm"):
        list(open_clip(noise).frames())


@pytest.mark.parametrize("name", ["missing.mp4", "missing.dcm", "missing.png", "missing"])
def test_a_missing_file_is_refused_with_its_name(tmp_path, name):
    with pytest.raises(ClipError, match=name):
        open_clip(tmp_path / name)


def test_a_folder_named_like_a_clip_is_refused(tmp_path):
    folder = tmp_path / "folder.mp4"
    folder.mkdir()

    with pytest.raises(ClipError, match="folder.mp4"):
        open_clip(folder)


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("real", "clarius-ocular-short.mp4"),
        ("pydicom", "examples_ybr_color.dcm"),
        ("pydicom", "OBXXXX1A_rle_2frame.dcm"),
        ("pydicom", "emri_small_jpeg_2k_lossless.dcm"),
        ("pydicom", "emri_small_jpeg_ls_lossless.dcm"),
    ],
)
def test_every_truncation_gives_frames_or_a_clip_error(tmp_path, real_clips_dir, source, name):
    """Cut at 12 points through the file: each cut reads to its end or raises ClipError."""
    whole = (real_clips_dir / name if source == "real" else pydicom_file(name)).read_bytes()
    cut = tmp_path / f"cut{Path(name).suffix}"
    outcomes = set()
    for fraction in np.linspace(0.0, 0.99, 12):
        cut.write_bytes(whole[: int(len(whole) * fraction)])
        try:
            clip = open_clip(cut)
            for frame in clip.frames():
                assert frame.pixels.shape[:2] == (clip.header.height_px, clip.header.width_px)
            outcomes.add("frames")
        except ClipError as error:
            assert error.path == cut and error.reason
            outcomes.add("error")

    assert "error" in outcomes


def test_the_sonosite_cine_truncated_mid_pixels_is_refused_not_cut(tmp_path, sonosite_dicom):
    """DICOM declares its frames exactly, so missing pixel data means a damaged file."""
    truncated = tmp_path / "short.dcm"
    truncated.write_bytes(sonosite_dicom.read_bytes()[:-50_000])

    with pytest.raises(ClipError, match="short.dcm"):
        list(open_clip(truncated).frames())


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("notes.txt", "unsupported file type"),
        ("scan.gif", "unsupported file type"),
    ],
)
def test_other_file_types_are_refused(tmp_path, name, reason):
    other = tmp_path / name
    other.write_bytes(b"GIF89a" + bytes(100))

    with pytest.raises(ClipError, match=reason):
        open_clip(other)


def test_a_gif_named_png_is_refused_as_not_png_or_jpeg(tmp_path):
    from PIL import Image

    disguised = tmp_path / "disguised.png"
    Image.new("L", (8, 8)).save(disguised, "GIF")

    with pytest.raises(ClipError, match="PNG or JPEG expected"):
        open_clip(disguised)


def mutated(content: bytes, case: int) -> bytes:
    """Case-seeded damage: a cut, flipped bytes or a zeroed run."""
    rng = np.random.default_rng(case)
    damaged = bytearray(content)
    if case % 3 == 0:
        return bytes(damaged[: int(rng.integers(0, len(damaged)))])
    if case % 3 == 1:
        for offset in rng.integers(0, len(damaged), size=8):
            damaged[offset] ^= int(rng.integers(1, 256))
        return bytes(damaged)
    start = int(rng.integers(0, len(damaged)))
    damaged[start : start + 256] = bytes(len(damaged[start : start + 256]))
    return bytes(damaged)


@pytest.mark.filterwarnings("ignore:Invalid value for VR")
@pytest.mark.parametrize(
    "name", ["clip.mkv", "clip.avi", "j2k.dcm", "ybr.dcm", "palette.dcm", "still.png", "still.jpg"]
)
def test_mutated_small_files_give_frames_or_a_clip_error(tmp_path, name):
    source = small_file(tmp_path / f"source-{name}")
    target = tmp_path / name
    for case in range(30):
        target.write_bytes(mutated(source.read_bytes(), case))
        try:
            for frame in open_clip(target).frames():
                assert frame.pixels.dtype == np.uint8 and frame.pixels.ndim in (2, 3)
        except ClipError as error:
            assert error.path == target and error.reason


def small_file(path: Path) -> Path:
    frames = marked_frames(4)
    makers = {
        "clip.mkv": lambda: write_video(path, frames, "mjpeg"),
        "clip.avi": lambda: write_video(path, frames),
        "j2k.dcm": lambda: write_dicom(path, frames, "RGB", syntax=JPEG2000Lossless),
        "ybr.dcm": lambda: write_jpeg_dicom(path, frames),
        "palette.dcm": lambda: write_palette_dicom(path, frames[0, ..., 0]),
        "still.png": lambda: write_still(path, frames[0]),
        "still.jpg": lambda: write_still(path, frames[0], exif_orientation=6),
    }
    return makers[path.name.removeprefix("source-")]()
