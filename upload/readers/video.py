"""Video containers (MP4, MOV, AVI, MKV, ...) through PyAV, decoded as a stream.

Frame times are the container's presentation timestamps, relative to the first frame returned.
Frames are turned upright by the stream's display matrix. Container metadata (creation time,
location, device, encoder) is never read into the header or the frames.
"""

import heapq
import logging
from collections import deque
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.container

from upload.errors import ClipError
from upload.readers.base import (
    Clip,
    ClipHeader,
    Frame,
    check_frame_size,
    describe,
    warn_if_count_differs,
)
from upload.readers.display_matrix import UPRIGHT, DisplayTransform, frame_display_transform

logger = logging.getLogger(__name__)

REORDER_WINDOW = 8
"""Frames held back so that timestamps can be sorted: AVI gives B-frame streams their decode
order timestamps, and sorting within a window deeper than any decoder delay restores them."""


class VideoClip(Clip):
    kind = "video"

    def __init__(self, path: Path, header: ClipHeader, transform: DisplayTransform):
        super().__init__(path, header)
        self._transform = transform

    def _decode(self) -> Iterator[Frame]:
        n_frames = 0
        with _open_container(self.path) as container:
            stream = _video_stream(container, self.path)
            stream.thread_type = "AUTO"
            decoder = TolerantDecoder(container, stream)
            clock = FrameClock(stream.time_base, self.header.fps)
            for frame, pts in in_presentation_order(decoder):
                pixels = self._transform.apply(frame.to_ndarray(format="rgb24"))
                yield Frame(n_frames, clock.time_s(pts), pixels)
                n_frames += 1
        if n_frames == 0:
            raise ClipError(self.path, f"no decodable video frame{decoder.error_note()}")
        decoder.warn_if_damaged(self.path)
        warn_if_count_differs(self.path, self.header.declared_frames, n_frames)


class TolerantDecoder:
    """Decoded frames of one stream, read to the real end of the file.

    A packet the decoder refuses and a frame it marks corrupt are skipped; a read error ends
    the stream where it happened. A truncated or partly damaged file so gives the frames it
    still holds, whatever its header declares.
    """

    def __init__(self, container: av.container.InputContainer, stream: av.VideoStream):
        self._container = container
        self._stream = stream
        self.refused_packets = 0
        self.corrupt_frames = 0
        self.last_error: Exception | None = None
        self.read_stopped = False

    def __iter__(self) -> Iterator[av.VideoFrame]:
        for packet in self._packets():
            yield from self._decode(packet)
        if self.read_stopped:
            yield from self._decode(None)

    def _packets(self) -> Iterator[av.Packet]:
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as error:
                self.read_stopped, self.last_error = True, error
                return
            yield packet

    def _decode(self, packet: av.Packet | None) -> Iterator[av.VideoFrame]:
        try:
            frames = self._stream.decode(packet)
        except av.error.FFmpegError as error:
            self.refused_packets += 1
            self.last_error = error
            return
        for frame in frames:
            if frame.is_corrupt:
                self.corrupt_frames += 1
                continue
            yield frame

    def error_note(self) -> str:
        """' (reason)' for the last decoding error, or '' when there was none."""
        return f" ({describe(self.last_error)})" if self.last_error else ""

    def warn_if_damaged(self, path: Path) -> None:
        if self.refused_packets or self.corrupt_frames or self.read_stopped:
            logger.warning(
                "clip damaged: %s, %d packets refused, %d corrupt frames dropped, "
                "read stopped early: %s%s",
                path.name,
                self.refused_packets,
                self.corrupt_frames,
                self.read_stopped,
                self.error_note(),
            )


def in_presentation_order(
    frames: Iterable[av.VideoFrame], window: int = REORDER_WINDOW
) -> Iterator[tuple[av.VideoFrame, int | None]]:
    """Each frame, in the order decoded, with the smallest timestamp pending in ``window``.

    Decoders return frames in presentation order; this pairs them with their timestamps even
    where the container stored them in decode order. Unchanged for ordered timestamps.
    """
    held: deque[av.VideoFrame] = deque()
    pending: list[int] = []
    for frame in frames:
        held.append(frame)
        if frame.pts is not None:
            heapq.heappush(pending, frame.pts)
        if len(held) > window:
            yield held.popleft(), heapq.heappop(pending) if pending else None
    while held:
        yield held.popleft(), heapq.heappop(pending) if pending else None


class FrameClock:
    """Seconds since the first frame, from timestamps in ``time_base`` units.

    A frame without a timestamp is placed one nominal frame period after the one before.
    """

    def __init__(self, time_base: Fraction | None, fps: float | None):
        self._time_base = time_base or Fraction(0)
        self._period_s = 1.0 / fps if fps else 0.0
        self._origin: int | None = None
        self._last_s: float | None = None

    def time_s(self, pts: int | None) -> float:
        if pts is None:
            self._last_s = 0.0 if self._last_s is None else self._last_s + self._period_s
        else:
            if self._origin is None:
                self._origin = pts
            self._last_s = float((pts - self._origin) * self._time_base)
        return round(self._last_s, 6)


def open_video(path: Path) -> VideoClip:
    """Read a video's header and decode its first frame, which fixes the displayed size."""
    with _open_container(path) as container:
        stream = _video_stream(container, path)
        if stream.codec_context.width and stream.codec_context.height:
            check_frame_size(path, stream.codec_context.width, stream.codec_context.height)
        first = next(iter(TolerantDecoder(container, stream)), None)
        if first is None:
            raise ClipError(path, "no decodable video frame")
        transform = _display_transform(path, first)
        header = _header(container, stream, transform.displayed_size(first.width, first.height))
    check_frame_size(path, header.width_px, header.height_px)
    return VideoClip(path, header, transform)


def _header(
    container: av.container.InputContainer, stream: av.VideoStream, size_px: tuple[int, int]
) -> ClipHeader:
    rate = stream.average_rate or stream.guessed_rate
    return ClipHeader(
        declared_frames=stream.frames or None,
        width_px=size_px[0],
        height_px=size_px[1],
        fps=float(rate) if rate else None,
        duration_s=_duration_s(container, stream),
        spacing_mm_per_px=None,
        imaging_region=None,
        start_time_s=_start_time_s(container, stream),
    )


def _open_container(path: Path) -> av.container.InputContainer:
    # Metadata is never used, so text that is not UTF-8 must not stop the clip.
    return av.open(str(path), mode="r", metadata_errors="ignore")


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    """The first video stream that is not a cover picture."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise ClipError(path, "the container has no video stream")


def _display_transform(path: Path, frame: av.VideoFrame) -> DisplayTransform:
    transform = frame_display_transform(frame)
    if transform is None:
        # Only right-angle rotations and mirrors are applied.
        logger.warning("clip rotation ignored: %s is not turned by a right angle", path.name)
        return UPRIGHT
    return transform


def _duration_s(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _start_time_s(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.start_time is not None and stream.time_base:
        return float(stream.start_time * stream.time_base)
    if container.start_time is not None:
        return container.start_time / av.time_base
    return None
