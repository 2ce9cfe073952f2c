"""Reading ultrasound clips frame by frame: video containers through PyAV, DICOM through pydicom.

Frames are decoded as a stream, so memory does not grow with clip length. Frame times come from
the container (video presentation timestamps) or the DICOM timing attributes, never from a
nominal frame rate alone.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pydicom
from pydicom.pixels import iter_pixels

from upload.errors import ClipError

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".m4v"})
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ""})


@dataclass(frozen=True)
class ClipHeader:
    """What a clip's file declares about itself."""

    declared_frames: int | None
    width_px: int
    height_px: int
    fps: float | None
    duration_s: float | None
    spacing_mm_per_px: float | None
    imaging_region: tuple[int, int, int, int] | None
    """(x0, y0, x1, y1), half-open, from DICOM Ultrasound Regions; None when not declared."""


@dataclass(frozen=True)
class Frame:
    index: int
    time_s: float
    pixels: np.ndarray
    """(H, W) uint8 grayscale or (H, W, 3) uint8 RGB."""


class Clip:
    """A clip file opened for streaming; ``frames()`` may be called more than once."""

    def __init__(self, path: Path, header: ClipHeader):
        self.path = path
        self.header = header

    def frames(self) -> Iterator[Frame]:
        raise NotImplementedError


class VideoClip(Clip):
    def frames(self) -> Iterator[Frame]:
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                start_s = _start_time_s(stream)
                for index, frame in enumerate(container.decode(stream)):
                    time_s = (frame.time if frame.time is not None else 0.0) - start_s
                    yield Frame(index, round(time_s, 6), frame.to_ndarray(format="rgb24"))
        except (av.error.FFmpegError, OSError) as error:
            raise ClipError(self.path, f"video decoding failed: {error}") from error


class DicomClip(Clip):
    def __init__(self, path: Path, header: ClipHeader, frame_times_s: list[float]):
        super().__init__(path, header)
        self._frame_times_s = frame_times_s

    def frames(self) -> Iterator[Frame]:
        try:
            for index, pixels in enumerate(iter_pixels(self.path)):
                yield Frame(index, self._time_s(index), _to_uint8(pixels))
        except Exception as error:  # pydicom raises many types for damaged pixel data
            raise ClipError(self.path, f"DICOM pixel data unreadable: {error}") from error

    def _time_s(self, index: int) -> float:
        if index < len(self._frame_times_s):
            return self._frame_times_s[index]
        return 0.0


def open_clip(path: Path) -> Clip:
    """Open a video or DICOM clip and read its header; raises ClipError when it is neither."""
    path = Path(path)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return _open_video(path)
    if path.suffix.lower() in DICOM_SUFFIXES or pydicom.misc.is_dicom(path):
        return _open_dicom(path)
    raise ClipError(path, f"unsupported file type {path.suffix!r}")


def _open_video(path: Path) -> VideoClip:
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ClipError(path, "the container has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            header = ClipHeader(
                declared_frames=stream.frames or None,
                width_px=stream.codec_context.width,
                height_px=stream.codec_context.height,
                fps=float(rate) if rate else None,
                duration_s=_duration_s(stream),
                spacing_mm_per_px=None,
                imaging_region=None,
            )
    except (av.error.FFmpegError, OSError, IndexError) as error:
        raise ClipError(path, f"not a readable video: {error}") from error
    return VideoClip(path, header)


def _duration_s(stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration is None:
        return None
    return float(stream.duration * stream.time_base)


def _start_time_s(stream: av.video.stream.VideoStream) -> float:
    if stream.start_time is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _open_dicom(path: Path) -> DicomClip:
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as error:  # InvalidDicomError, EOFError, struct errors on truncation
        raise ClipError(path, f"not a readable DICOM file: {error}") from error
    if "Rows" not in dataset or "Columns" not in dataset:
        raise ClipError(path, "DICOM file holds no image (Rows/Columns missing)")
    n_frames = int(dataset.get("NumberOfFrames", 1) or 1)
    frame_times_s = _dicom_frame_times_s(dataset, n_frames)
    region, spacing = _dicom_region(dataset)
    fps = _dicom_fps(dataset)
    header = ClipHeader(
        declared_frames=n_frames,
        width_px=int(dataset.Columns),
        height_px=int(dataset.Rows),
        fps=fps,
        duration_s=n_frames / fps if fps else None,
        spacing_mm_per_px=spacing,
        imaging_region=region,
    )
    return DicomClip(path, header, frame_times_s)


def _dicom_fps(dataset: pydicom.Dataset) -> float | None:
    frame_time_ms = dataset.get("FrameTime")
    if frame_time_ms:
        return 1000.0 / float(frame_time_ms)
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        if dataset.get(keyword):
            return float(dataset.get(keyword))
    return None


def _dicom_frame_times_s(dataset: pydicom.Dataset, n_frames: int) -> list[float]:
    """Start time of each frame: FrameTimeVector (ms between frames) wins over FrameTime."""
    vector = dataset.get("FrameTimeVector")
    if vector and len(vector) == n_frames:
        return [round(float(t) / 1000.0, 6) for t in np.cumsum([float(v) for v in vector])]
    fps = _dicom_fps(dataset)
    if not fps:
        return [0.0] * n_frames
    return [round(i / fps, 6) for i in range(n_frames)]


def _dicom_region(
    dataset: pydicom.Dataset,
) -> tuple[tuple[int, int, int, int] | None, float | None]:
    """The union of the 2D ultrasound regions and the finest spacing among them, in mm per px."""
    regions = dataset.get("SequenceOfUltrasoundRegions") or []
    boxes, spacings = [], []
    for region in regions:
        boxes.append(
            (
                int(region.RegionLocationMinX0),
                int(region.RegionLocationMinY0),
                int(region.RegionLocationMaxX1) + 1,
                int(region.RegionLocationMaxY1) + 1,
            )
        )
        # Physical units code 3 is centimetres.
        if region.get("PhysicalUnitsXDirection") == 3 and region.get("PhysicalDeltaX"):
            spacings.append(abs(float(region.PhysicalDeltaX)) * 10.0)
    if not boxes:
        return None, None
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    return (x0, y0, x1, y1), (min(spacings) if spacings else None)


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    low, high = float(pixels.min()), float(pixels.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    return ((pixels.astype(np.float32) - low) * scale).astype(np.uint8)
