"""Tiny clip files for reader tests: videos through PyAV, DICOM through pydicom, stills through
Pillow. Every frame has a known grey level and a white marker, so order and orientation can be
checked after lossy coding.
"""

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pydicom
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

HEIGHT_PX, WIDTH_PX = 48, 64
MARKER_PX = 8
"""The white marker fills rows and columns 0-7: the top-left corner as stored."""


def grey_level(index: int) -> int:
    """The level of frame ``index``: 10, 30, 50, ... so that frames are told apart."""
    return 20 * index + 10


def marked_frames(n_frames: int, height_px: int = HEIGHT_PX, width_px: int = WIDTH_PX):
    """(N, H, W, 3) uint8: frame i at ``grey_level(i)`` with a white top-left marker."""
    frames = np.empty((n_frames, height_px, width_px, 3), np.uint8)
    for index in range(n_frames):
        frames[index] = grey_level(index) % 256
    frames[:, :MARKER_PX, :MARKER_PX] = 255
    return frames


def write_video(
    path: Path,
    frames: np.ndarray,
    codec: str = "libx264",
    pts_ms: list[int] | None = None,
    rotation_deg: int | None = None,
    hflip: bool = False,
    container_metadata: dict[str, str] | None = None,
    shift_ms: int = 0,
    faststart: bool = False,
) -> Path:
    """Encode (N, H, W, 3) uint8 frames; times are ``pts_ms`` (default 40 ms apart, 25 fps).

    ``rotation_deg`` (counter-clockwise) and ``hflip`` go into the display matrix.
    ``shift_ms`` moves every packet earlier, which MP4 stores as an edit list that starts the
    clip that far into its media.
    """
    pts_ms = pts_ms if pts_ms is not None else [40 * i for i in range(len(frames))]
    # AVI has no timestamps of its own, only a frame rate: its clock ticks once per frame.
    time_base = Fraction(1, 25) if path.suffix == ".avi" else Fraction(1, 1000)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as container:
        container.metadata.update(container_metadata or {})
        stream = _video_stream(container, codec, frames.shape, time_base)
        if rotation_deg is not None or hflip:
            stream.set_display_rotation(rotation_deg or 0, hflip=hflip)
        for pixels, ms in zip(frames, pts_ms):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = int(Fraction(ms, 1000) / time_base), time_base
            _mux(container, stream.encode(frame), shift_ms)
        _mux(container, stream.encode(None), shift_ms)
    return path


def _video_stream(container, codec: str, shape: tuple[int, ...], time_base: Fraction):
    stream = container.add_stream(codec, rate=25)
    stream.height, stream.width = shape[1], shape[2]
    stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    stream.time_base = stream.codec_context.time_base = time_base
    if codec == "libx265":
        stream.options = {"x265-params": "log-level=none"}
    return stream


def _mux(container, packets, shift_ms: int) -> None:
    for packet in packets:
        if shift_ms and packet.pts is not None:
            packet.pts -= shift_ms
            packet.dts -= shift_ms
        container.mux(packet)


def write_dicom(
    path: Path,
    pixels: np.ndarray,
    photometric: str = "MONOCHROME2",
    bits_stored: int = 8,
    syntax: str | None = None,
    **elements,
) -> Path:
    """(N, H, W[, 3]) or (H, W[, 3]) pixels as a DICOM file, compressed to ``syntax`` if given.

    A 2D grey or 3D colour array is one frame with no Number of Frames; ``elements`` are set
    last (e.g. ``NumberOfFrames=1``, ``FrameTime=40``, ``WindowCenter=1000``).
    """
    dataset = _ultrasound_dataset()
    dataset.set_pixel_data(pixels, photometric, bits_stored)
    if syntax is not None:
        dataset.compress(syntax)
    for keyword, value in elements.items():
        setattr(dataset, keyword, value)
    dataset.save_as(path, enforce_file_format=True)
    return path


def write_jpeg_dicom(path: Path, frames: np.ndarray) -> Path:
    """(N, H, W, 3) RGB frames as JPEG baseline, YBR_FULL_422 (4:2:2 chroma), as scanners do."""
    dataset = _ultrasound_dataset()
    dataset.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    dataset.Rows, dataset.Columns = frames.shape[1], frames.shape[2]
    dataset.NumberOfFrames = len(frames)
    dataset.SamplesPerPixel, dataset.PlanarConfiguration = 3, 0
    dataset.PhotometricInterpretation = "YBR_FULL_422"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7
    dataset.PixelRepresentation = 0
    dataset.PixelData = encapsulate([_jpeg_bytes(frame) for frame in frames])
    dataset.save_as(path, enforce_file_format=True)
    return path


def _jpeg_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=95, subsampling="4:2:2")
    return buffer.getvalue()


def write_palette_dicom(path: Path, indices: np.ndarray) -> Path:
    """(H, W) uint8 palette indices with 16-bit LUTs: index i shows as (i, 0, 255 - i)."""
    dataset = _ultrasound_dataset()
    dataset.set_pixel_data(indices, "PALETTE COLOR", 8)
    ramp = np.arange(256, dtype=np.uint16) * 257
    tables = {"Red": ramp, "Green": np.zeros(256, np.uint16), "Blue": ramp[::-1].copy()}
    for colour, table in tables.items():
        setattr(dataset, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(dataset, f"{colour}PaletteColorLookupTableData", table.tobytes())
    dataset.save_as(path, enforce_file_format=True)
    return path


def _ultrasound_dataset() -> pydicom.Dataset:
    dataset = pydicom.Dataset()
    dataset.file_meta = pydicom.dataset.FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.SOPClassUID = pydicom.uid.UltrasoundMultiFrameImageStorage
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.Modality = "US"
    return dataset


def write_still(path: Path, pixels: np.ndarray, exif_orientation: int | None = None) -> Path:
    """(H, W) or (H, W, 3) pixels as PNG or JPEG (by suffix), with an EXIF orientation if set."""
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    if exif_orientation is not None:
        exif[0x0112] = exif_orientation
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(path, "JPEG", quality=95, exif=exif)
    else:
        image.save(path, "PNG", exif=exif)
    return path
