"""Every clip format the readers take, on tiny files made here with known pixels and times."""

import dataclasses
import logging
import tracemalloc

import av
import numpy as np
import psutil
import pytest
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from tests.upload.make_clips import (
    HEIGHT_PX,
    MARKER_PX,
    WIDTH_PX,
    grey_level,
    marked_frames,
    write_dicom,
    write_jpeg_dicom,
    write_palette_dicom,
    write_still,
    write_video,
)
from upload.clips import ClipHeader, Frame, open_clip
from upload.errors import ClipError

HEVC_MISSING = not {"libx265", "hevc"} <= av.codecs_available
CONTAINER_CODECS = [
    ("mp4", "libx264"),
    ("mp4", "libx265"),
    ("mp4", "mjpeg"),
    ("mov", "libx264"),
    ("mov", "libx265"),
    ("mov", "mjpeg"),
    ("avi", "libx264"),
    ("avi", "mjpeg"),
    ("mkv", "libx264"),
    ("mkv", "libx265"),
    ("mkv", "mjpeg"),
]


def grey_of(pixels: np.ndarray) -> float:
    """Mean level away from the marker: which source frame this is, within coding error."""
    return float(pixels[MARKER_PX + 4 :, MARKER_PX + 4 :].mean())


def marker_centre(pixels: np.ndarray) -> tuple[float, float]:
    """(row, column) of the white marker's centre."""
    rows, cols = np.nonzero(pixels.min(axis=-1) > 230 if pixels.ndim == 3 else pixels > 230)
    return float(rows.mean()), float(cols.mean())


@pytest.mark.parametrize(("suffix", "codec"), CONTAINER_CODECS)
def test_each_container_and_codec_gives_every_frame_in_order(tmp_path, suffix, codec):
    if codec == "libx265" and HEVC_MISSING:
        pytest.skip("PyAV is built without an HEVC encoder and decoder")
    path = write_video(tmp_path / f"clip.{suffix}", marked_frames(10), codec)

    clip = open_clip(path)
    frames = list(clip.frames())

    assert [f.index for f in frames] == list(range(10))
    assert [f.time_s for f in frames] == [round(0.04 * i, 6) for i in range(10)]
    assert {f.pixels.shape for f in frames} == {(HEIGHT_PX, WIDTH_PX, 3)}
    assert [grey_of(f.pixels) for f in frames] == pytest.approx(
        [grey_level(i) for i in range(10)], abs=3
    )
    assert (clip.header.width_px, clip.header.height_px) == (WIDTH_PX, HEIGHT_PX)
    assert clip.header.fps == 25.0
    assert clip.header.declared_frames == (None if suffix == "mkv" else 10)


@pytest.mark.parametrize("suffix", ["mp4", "mkv"])
def test_variable_frame_rate_times_are_the_presentation_timestamps(tmp_path, suffix):
    pts_ms = [0, 40, 100, 110, 200, 260, 270, 400]
    path = write_video(tmp_path / f"vfr.{suffix}", marked_frames(8), pts_ms=pts_ms)

    times = [f.time_s for f in open_clip(path).frames()]

    assert times == [0.0, 0.04, 0.1, 0.11, 0.2, 0.26, 0.27, 0.4]


@pytest.mark.parametrize("suffix", ["mp4", "mkv"])
def test_a_late_start_is_in_the_header_and_frame_times_start_at_zero(tmp_path, suffix):
    pts_ms = [5000 + 40 * i for i in range(5)]
    path = write_video(tmp_path / f"late.{suffix}", marked_frames(5), pts_ms=pts_ms)

    clip = open_clip(path)

    assert clip.header.start_time_s == 5.0
    assert [f.time_s for f in clip.frames()] == [0.0, 0.04, 0.08, 0.12, 0.16]


def test_an_edit_list_starts_the_clip_where_it_says(tmp_path):
    """Packets moved 120 ms earlier: MP4 keeps all ten and an edit list skips the first three."""
    path = write_video(tmp_path / "edited.mp4", marked_frames(10), shift_ms=120)
    assert b"elst" in path.read_bytes()

    clip = open_clip(path)
    frames = list(clip.frames())

    assert clip.header.declared_frames == 10
    assert len(frames) == 7
    assert grey_of(frames[0].pixels) == pytest.approx(grey_level(3), abs=3)
    assert [f.time_s for f in frames] == [round(0.04 * i, 6) for i in range(7)]


def corner_centre(corner: str, height_px: int, width_px: int) -> tuple[float, float]:
    """(row, column) where the marker's centre lies when it sits in ``corner``."""
    near = (MARKER_PX - 1) / 2
    row = height_px - 1 - near if corner.startswith("bottom") else near
    col = width_px - 1 - near if corner.endswith("right") else near
    return row, col


@pytest.mark.parametrize(
    ("rotation_deg", "hflip", "corner"),
    [
        (90, False, "bottom-left"),
        (-90, False, "top-right"),
        (180, False, "bottom-right"),
        (0, True, "top-right"),
        (90, True, "bottom-right"),
    ],
)
def test_display_matrix_is_applied_so_frames_are_upright(tmp_path, rotation_deg, hflip, corner):
    """Rotation is counter-clockwise, then the mirror: +90 takes the top-left to bottom-left."""
    path = write_video(
        tmp_path / "turned.mp4", marked_frames(3), rotation_deg=rotation_deg, hflip=hflip
    )

    clip = open_clip(path)
    pixels = next(iter(clip.frames())).pixels

    turned = rotation_deg in (90, -90)
    height, width = (WIDTH_PX, HEIGHT_PX) if turned else (HEIGHT_PX, WIDTH_PX)
    assert pixels.shape == (height, width, 3)
    assert (clip.header.height_px, clip.header.width_px) == (height, width)
    assert marker_centre(pixels) == pytest.approx(corner_centre(corner, height, width), abs=0.6)


def test_a_rotation_off_the_right_angles_is_left_as_decoded_with_a_warning(tmp_path, caplog):
    path = write_video(tmp_path / "tilted.mp4", marked_frames(2), rotation_deg=45)

    with caplog.at_level(logging.WARNING):
        pixels = next(iter(open_clip(path).frames())).pixels

    assert pixels.shape == (HEIGHT_PX, WIDTH_PX, 3)
    assert "clip rotation ignored: tilted.mp4" in caplog.text


def test_a_truncated_video_is_read_to_its_real_end(tmp_path, caplog):
    whole = write_video(tmp_path / "whole.mp4", marked_frames(10), "mjpeg", faststart=True)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])

    clip = open_clip(truncated)
    with caplog.at_level(logging.WARNING):
        frames = list(clip.frames())

    assert clip.header.declared_frames == 10
    assert 2 <= len(frames) < 10
    levels = [grey_of(f.pixels) for f in frames]
    assert levels == pytest.approx([grey_level(i) for i in range(len(frames))], abs=3)
    assert f"declares 10, decoded {len(frames)}" in caplog.text


def test_a_video_whose_frames_are_all_unreadable_is_refused(tmp_path):
    whole = write_video(tmp_path / "whole.mp4", marked_frames(10), "mjpeg", faststart=True)
    content = bytearray(whole.read_bytes())
    media_start = content.index(b"mdat") + 4
    content[media_start:] = bytes(len(content) - media_start)
    zeroed = tmp_path / "zeroed.mp4"
    zeroed.write_bytes(bytes(content))

    with pytest.raises(ClipError) as raised:
        list(open_clip(zeroed).frames())

    assert raised.value.path == zeroed
    assert "no decodable video frame" in raised.value.reason


def test_container_metadata_reaches_neither_header_nor_frames(tmp_path):
    tags = {
        "creation_time": "2024-05-01T10:20:30Z",
        "location": "+52.5200+013.4050/",
        "com.apple.quicktime.location.ISO6709": "+52.5200+013.4050/",
        "encoder": "ScannerSoft 9.1",
        "serial_number": "SN-0042-XYZ",
    }
    path = write_video(tmp_path / "tagged.mkv", marked_frames(3), container_metadata=tags)
    assert b"SN-0042-XYZ" in path.read_bytes()

    clip = open_clip(path)
    frames = list(clip.frames())

    assert [f.name for f in dataclasses.fields(Frame)] == ["index", "time_s", "pixels"]
    assert all(type(f.pixels) is np.ndarray and f.pixels.dtype == np.uint8 for f in frames)
    header_text = repr(clip.header)
    assert not any(value in header_text for value in tags.values())
    assert "metadata" not in {f.name for f in dataclasses.fields(ClipHeader)}


def test_container_metadata_that_is_not_utf8_does_not_stop_the_clip(tmp_path):
    path = write_video(tmp_path / "latin.mp4", marked_frames(3), container_metadata={"title": "Aé"})
    path.write_bytes(path.read_bytes().replace("Aé".encode(), b"A\xe9\xff"))

    assert len(list(open_clip(path).frames())) == 3


def test_video_memory_does_not_grow_with_clip_length(tmp_path):
    """100 frames of 480 x 640 RGB would hold 92 MiB; streamed, resident memory barely moves."""
    path = write_video(tmp_path / "long.mkv", marked_frames(100, 480, 640), "mjpeg")
    process = psutil.Process()

    frames = open_clip(path).frames()
    next(frames)
    start_bytes = process.memory_info().rss
    peak_bytes = max(process.memory_info().rss for _ in frames)

    assert peak_bytes - start_bytes < 20 * 2**20


def test_dicom_memory_does_not_grow_with_clip_length(tmp_path):
    """Streaming 150 frames peaks within a few frames of streaming 15."""
    peaks = []
    for n_frames in (15, 150):
        frames = marked_frames(n_frames, 120, 160)
        clip = open_clip(write_dicom(tmp_path / f"{n_frames}.dcm", frames, "RGB"))
        tracemalloc.start()
        for _ in clip.frames():
            pass
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()

    assert peaks[1] < peaks[0] + 4 * frames[0].nbytes


# DICOM


@pytest.mark.parametrize("syntax", [None, RLELossless, JPEGLSLossless, JPEG2000Lossless])
@pytest.mark.parametrize("photometric", ["MONOCHROME2", "RGB"])
def test_dicom_cine_in_each_transfer_syntax_decodes_exactly(tmp_path, syntax, photometric):
    frames = marked_frames(10)
    pixels = frames if photometric == "RGB" else frames[..., 0]
    path = write_dicom(tmp_path / "cine.dcm", pixels, photometric, syntax=syntax, FrameTime=40)

    clip = open_clip(path)
    decoded = list(clip.frames())

    assert clip.header.declared_frames == 10
    assert np.array_equal(np.stack([f.pixels for f in decoded]), pixels)
    assert [f.time_s for f in decoded] == [round(0.04 * i, 6) for i in range(10)]


def test_jpeg_baseline_ybr_full_422_red_decodes_as_red(tmp_path):
    frames = np.zeros((2, HEIGHT_PX, WIDTH_PX, 3), np.uint8)
    frames[:, 16:32, 16:48] = (255, 0, 0)
    path = write_jpeg_dicom(tmp_path / "red.dcm", frames)

    decoded = [f.pixels for f in open_clip(path).frames()]

    assert len(decoded) == 2
    assert decoded[0][24, 32].tolist() == pytest.approx([255, 0, 0], abs=6)
    assert decoded[1][4, 4].tolist() == pytest.approx([0, 0, 0], abs=6)


def test_palette_colour_is_returned_as_rgb(tmp_path):
    indices = np.full((HEIGHT_PX, WIDTH_PX), 200, np.uint8)
    indices[:, : WIDTH_PX // 2] = 10
    path = write_palette_dicom(tmp_path / "palette.dcm", indices)

    pixels = next(iter(open_clip(path).frames())).pixels

    assert pixels.shape == (HEIGHT_PX, WIDTH_PX, 3)
    assert pixels[0, 0].tolist() == [10, 0, 245]
    assert pixels[0, -1].tolist() == [200, 0, 55]


def test_monochrome1_is_inverted_so_that_higher_is_brighter(tmp_path):
    stored = np.array([[0, 55], [200, 255]], np.uint8)
    path = write_dicom(tmp_path / "inverted.dcm", stored, "MONOCHROME1")

    pixels = next(iter(open_clip(path).frames())).pixels

    assert pixels.tolist() == [[255, 200], [55, 0]]


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        # Stored range 0-4095 stretched by 255 / 4095: 2048 -> 127.5, 1000 -> 62.3.
        ({}, [[0, 128], [255, 62]]),
        # Centre 1000, width 1001: ((x - 999.5) / 1000 + 0.5) * 255, clipped.
        ({"WindowCenter": 1000, "WindowWidth": 1001}, [[0, 255], [255, 128]]),
    ],
)
def test_sixteen_bit_dicom_is_scaled_to_uint8(tmp_path, window, expected):
    stored = np.array([[0, 2048], [4095, 1000]], np.uint16)
    path = write_dicom(tmp_path / "deep.dcm", stored, bits_stored=12, **window)

    pixels = next(iter(open_clip(path).frames())).pixels

    assert pixels.dtype == np.uint8
    assert pixels.tolist() == expected


@pytest.mark.parametrize("number_of_frames", [None, 1])
def test_a_dicom_without_several_frames_is_one_frame(tmp_path, number_of_frames):
    elements = {} if number_of_frames is None else {"NumberOfFrames": number_of_frames}
    path = write_dicom(tmp_path / "single.dcm", marked_frames(1)[0, ..., 0], **elements)

    clip = open_clip(path)
    frames = list(clip.frames())

    assert clip.header.declared_frames == 1
    assert len(frames) == 1
    assert frames[0].pixels.shape == (HEIGHT_PX, WIDTH_PX)
    assert frames[0].time_s == 0.0


def test_a_dicom_declaring_more_frames_than_it_holds_is_refused_at_open(tmp_path):
    path = write_dicom(tmp_path / "overcount.dcm", marked_frames(3)[..., 0], NumberOfFrames=5)

    with pytest.raises(ClipError, match="holds 9216 bytes where the header's frames need 15360"):
        open_clip(path)


# Stills


@pytest.mark.parametrize(
    ("name", "channels"), [("grey.png", 1), ("colour.png", 3), ("colour.jpg", 3)]
)
def test_a_still_image_is_a_one_frame_clip_at_time_zero(tmp_path, name, channels):
    pixels = marked_frames(4)[3] if channels == 3 else marked_frames(4)[3, ..., 0]
    path = write_still(tmp_path / name, pixels)

    clip = open_clip(path)
    frames = list(clip.frames())

    assert clip.header.declared_frames == 1
    assert (clip.header.width_px, clip.header.height_px) == (WIDTH_PX, HEIGHT_PX)
    assert [(f.index, f.time_s) for f in frames] == [(0, 0.0)]
    assert frames[0].pixels.shape == pixels.shape
    assert grey_of(frames[0].pixels) == pytest.approx(grey_level(3), abs=2)


def test_a_sixteen_bit_png_is_scaled_to_uint8(tmp_path):
    path = write_still(tmp_path / "deep.png", np.array([[0, 257 * 128], [65535, 257]], np.uint16))

    pixels = next(iter(open_clip(path).frames())).pixels

    assert pixels.tolist() == [[0, 128], [255, 1]]


def test_jpeg_exif_orientation_6_is_applied(tmp_path):
    """Orientation 6: shown turned 90 degrees clockwise, so the stored top-left ends top-right."""
    path = write_still(tmp_path / "portrait.jpg", marked_frames(1)[0], exif_orientation=6)

    clip = open_clip(path)
    pixels = next(iter(clip.frames())).pixels

    assert pixels.shape == (WIDTH_PX, HEIGHT_PX, 3)
    assert (clip.header.height_px, clip.header.width_px) == (WIDTH_PX, HEIGHT_PX)
    assert marker_centre(pixels) == pytest.approx(
        corner_centre("top-right", WIDTH_PX, HEIGHT_PX), abs=0.6
    )
