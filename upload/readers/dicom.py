"""DICOM clips through pydicom: multi-frame cine or a single image, streamed frame by frame.

Any transfer syntax pydicom has a decoder for is read: uncompressed, deflated and RLE natively,
JPEG through Pillow or pylibjpeg-libjpeg, JPEG-LS through pyjpegls and JPEG 2000 through
pylibjpeg-openjpeg. Frame times come from Frame Time Vector or Frame Time, never a guess.
Pixel data that does not match its header is refused, not cut short.
"""

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.filereader import data_element_generator
from pydicom.pixels import get_decoder, iter_pixels
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from upload.errors import ClipError
from upload.readers.base import Clip, ClipHeader, Frame, check_frame_size, describe
from upload.readers.dicom_pixels import PixelScaling, pixel_scaling

_ENCAPSULATED_PIXEL_DATA_HEAD = b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff"
"""Pixel Data (7FE0,0010), explicit VR OB, undefined length: how compressed files start it."""
_NATIVE_SYNTAXES = {
    (True, True): ImplicitVRLittleEndian,
    (False, True): ExplicitVRLittleEndian,
    (False, False): ExplicitVRBigEndian,
}
"""(implicit VR, little endian) to the uncompressed transfer syntax encoded that way."""


class DicomClip(Clip):
    """Frames read from the file one at a time, or from the whole dataset in memory
    (``in_memory``) for deflated files and those without File Meta Information."""

    kind = "DICOM"

    def __init__(
        self,
        path: Path,
        header: ClipHeader,
        frame_times_s: list[float],
        scaling: PixelScaling,
        in_memory: bool = False,
    ):
        super().__init__(path, header)
        self._frame_times_s = frame_times_s
        self._scaling = scaling
        self._in_memory = in_memory

    def _decode(self) -> Iterator[Frame]:
        source = whole_dataset(self.path) if self._in_memory else self.path
        for index, raw in enumerate(iter_pixels(source)):
            yield Frame(index, self._time_s(index), self._scaling.to_uint8(raw))

    def _time_s(self, index: int) -> float:
        if index < len(self._frame_times_s):
            return self._frame_times_s[index]
        return 0.0


def open_dicom(path: Path) -> DicomClip:
    """Read a DICOM header; raises ClipError when it holds no image this reader can decode."""
    dataset, pixel_offset, without_meta = _read_header(path)
    if "Rows" not in dataset or "Columns" not in dataset:
        raise ClipError(path, "DICOM file holds no image (Rows/Columns missing)")
    check_frame_size(path, int(dataset.Columns), int(dataset.Rows))
    syntax = None if without_meta else _usable_transfer_syntax(path, dataset)
    in_memory = syntax is None or syntax.is_deflated
    if not in_memory:
        check_pixel_data_length(path, pixel_offset, dataset, syntax.is_encapsulated)
    try:
        scaling = pixel_scaling(dataset)
    except ValueError as error:
        raise ClipError(path, f"DICOM pixel format not read: {error}") from error
    header = _dicom_header(dataset)
    frame_times_s = _dicom_frame_times_s(dataset, header.declared_frames)
    return DicomClip(path, header, frame_times_s, scaling, in_memory)


def _dicom_header(dataset: pydicom.Dataset) -> ClipHeader:
    n_frames = declared_frames(dataset)
    region, spacing = _dicom_region(dataset)
    fps = _dicom_fps(dataset)
    return ClipHeader(
        declared_frames=n_frames,
        width_px=int(dataset.Columns),
        height_px=int(dataset.Rows),
        fps=fps,
        duration_s=n_frames / fps if fps else None,
        spacing_mm_per_px=spacing,
        imaging_region=region,
    )


def _read_header(path: Path) -> tuple[pydicom.Dataset, int, bool]:
    """The dataset without its pixel data, the file offset where the pixel data starts, and
    whether the file lacks File Meta Information (old ACR-NEMA style, read by guessing)."""
    for without_meta in (False, True):
        try:
            with open(path, "rb") as stream:
                dataset = pydicom.dcmread(stream, stop_before_pixels=True, force=without_meta)
                return dataset, stream.tell(), without_meta
        except InvalidDicomError:
            continue
        except Exception as error:  # EOFError, struct and value errors on damaged files
            raise ClipError(path, f"not a readable DICOM file: {describe(error)}") from error
    raise ClipError(path, "not a readable DICOM file")


def whole_dataset(path: Path) -> pydicom.Dataset:
    """The whole file in memory, its Transfer Syntax UID guessed from its encoding if missing."""
    dataset = pydicom.dcmread(path, force=True)
    if "TransferSyntaxUID" not in dataset.file_meta:
        encoding = tuple(dataset.original_encoding[:2])
        dataset.file_meta.TransferSyntaxUID = _NATIVE_SYNTAXES.get(encoding, ImplicitVRLittleEndian)
    return dataset


def check_pixel_data_length(
    path: Path, pixel_offset: int, dataset: pydicom.Dataset, encapsulated: bool
) -> None:
    """Refuse pixel data that the file's end cuts short or whose size disagrees with the header.

    Uncompressed data may carry padding of less than a frame after the declared frames; more
    means a damaged Rows, Columns or Number of Frames, which would decode as sheared frames.
    """
    if encapsulated:
        check_fragments_complete(path, pixel_offset)
        return
    with open(path, "rb") as stream:
        stream.seek(pixel_offset)
        implicit_vr, little_endian = dataset.original_encoding[:2]
        elements = data_element_generator(stream, implicit_vr, little_endian, defer_size=64)
        element = next(elements, None)
    if element is None or element.tag != 0x7FE00010:
        return
    held = min(element.length, path.stat().st_size - element.value_tell)
    needed = get_expected_length(dataset, "bytes")
    frame_bytes = needed // declared_frames(dataset)
    if held < needed or held - needed >= max(frame_bytes, 2):
        raise ClipError(
            path, f"pixel data holds {held} bytes where the header's frames need {needed}"
        )


def check_fragments_complete(path: Path, pixel_offset: int) -> None:
    """Refuse encapsulated pixel data, starting at ``pixel_offset``, that stops before its
    closing delimiter.

    pydicom decodes the frames of a truncated file without complaint, the last ones cut short;
    walking the fragment items (8-byte headers, little endian) finds the cut cheaply.
    """
    size = path.stat().st_size
    with open(path, "rb") as stream:
        stream.seek(pixel_offset)
        if stream.read(12) != _ENCAPSULATED_PIXEL_DATA_HEAD:
            return
        position = pixel_offset + 12
        while position + 8 <= size:
            stream.seek(position)
            group, element, length = struct.unpack("<HHL", stream.read(8))
            if (group, element) == (0xFFFE, 0xE0DD):
                return
            if (group, element) != (0xFFFE, 0xE000):
                raise ClipError(path, f"pixel data holds a stray tag ({group:04X},{element:04X})")
            position += 8 + length
    raise ClipError(path, "pixel data ends before its last fragment: the file is truncated")


def _usable_transfer_syntax(path: Path, dataset: pydicom.Dataset) -> pydicom.uid.UID | None:
    """The file's transfer syntax, None when undeclared; refused when nothing can decode it."""
    syntax = dataset.file_meta.get("TransferSyntaxUID")
    if syntax is None:
        return None
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        # Video in DICOM (MPEG-2, H.264, HEVC) is among these.
        raise ClipError(path, f"no pixel decoder for transfer syntax {syntax.name}") from None
    if not decoder.is_available:
        needs = "; ".join(decoder.missing_dependencies)
        raise ClipError(path, f"pixel data in {syntax.name} needs a decoder plugin: {needs}")
    return syntax


def declared_frames(dataset: pydicom.Dataset) -> int:
    """Number of Frames, with missing, empty, 0 and 1 all meaning a single frame."""
    value = dataset.get("NumberOfFrames")
    if value in (None, ""):
        return 1
    return max(int(value), 1)


def _dicom_fps(dataset: pydicom.Dataset) -> float | None:
    frame_time_ms = dataset.get("FrameTime")
    if frame_time_ms and float(frame_time_ms) > 0:
        return 1000.0 / float(frame_time_ms)
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        if dataset.get(keyword) and float(dataset.get(keyword)) > 0:
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
