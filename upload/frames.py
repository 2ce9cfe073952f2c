"""One clip to de-identified PNG frames in a frame store.

Nothing of the source file travels with a frame: no name (clips are named by keyed pseudonym),
no container or DICOM metadata (PNGs hold pixels only), no burned-in text outside the imaging
region (blanked). DICOM clips also get a de-identified header, stored without pixel data.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pydicom
from tqdm import tqdm

from upload.clips import Clip, Frame, open_clip
from upload.dicom_header import header_bytes, patient_pseudonym, read_deidentified_header
from upload.errors import ClipError
from upload.imaging_region import (
    ImagingRegion,
    MotionAccumulator,
    NoImagingRegion,
    texture_region,
)
from upload.pseudonyms import clip_pseudonym, content_sha256
from upload.selection import FrameSelection, FrameSelector
from upload.sidecar import UNKNOWN_VIEW, ClipSidecar, read_sidecar
from upload.storage import FrameStore

logger = logging.getLogger(__name__)

GRAY_TOLERANCE = 8
"""Largest channel difference (grey levels) for which an RGB frame is stored as grayscale."""


@dataclass(frozen=True)
class FrameRecord:
    """A stored frame; ``storage_key`` names it in the frame store."""

    clip_id: str
    frame_index: int
    time_s: float
    view: str
    storage_key: str
    width_px: int
    height_px: int
    spacing_mm_per_px: float | None
    infant_id: str | None = None
    """Keyed pseudonym of the patient, when the source names one."""


@dataclass
class ClipReport:
    source: Path
    clip_id: str | None = None
    content_sha256: str | None = None
    frames_decoded: int = 0
    frames: list[FrameRecord] = field(default_factory=list)
    blanked_share: float | None = None
    error: str | None = None
    reused: bool = False
    """True when an earlier run stored this clip with the same settings."""


@dataclass(frozen=True)
class IngestSettings:
    selection: FrameSelection = FrameSelection()
    depth_mm: float | None = None
    """Imaging depth for videos whose sidecar gives none; sets mm per pixel."""

    def describe(self) -> str:
        return f"{self.selection.describe()}|depth={self.depth_mm}"


@dataclass(frozen=True)
class ClipIdentity:
    clip_id: str
    content_sha256: str
    infant_id: str | None
    sidecar: ClipSidecar


def identify(path: Path, site_key: bytes) -> ClipIdentity:
    sidecar = read_sidecar(path)
    digest = content_sha256(path)
    infant_id = patient_pseudonym(site_key, sidecar.patient_id) if sidecar.patient_id else None
    return ClipIdentity(clip_pseudonym(site_key, digest), digest, infant_id, sidecar)


def ingest_clip(
    path: Path,
    store: FrameStore,
    site_key: bytes,
    settings: IngestSettings,
    identity: ClipIdentity | None = None,
) -> ClipReport:
    """Decode ``path``, blank all but its imaging region and store the kept frames as PNG.

    Raises ClipError for an unreadable clip or one whose imaging region cannot be found; no
    frame of such a clip is stored.
    """
    identity = identity or identify(path, site_key)
    clip = open_clip(path)
    report = ClipReport(path, identity.clip_id, identity.content_sha256)
    header = None
    if pydicom.misc.is_dicom(path):
        header, identity = _deidentified_header(path, site_key, identity)
    if identity.sidecar.view == UNKNOWN_VIEW:
        logger.warning(
            "%s: view unknown; put it in a long_axis/ or short_axis/ folder or a "
            "sidecar so that pre-labels use only that view's structures",
            path.name,
        )
    kept, motion = _decode(clip, settings.selection, report)
    region = _imaging_region(clip, motion, kept[0])
    report.blanked_share = region.blanked_share(clip.header.height_px, clip.header.width_px)
    spacing = _spacing_mm_per_px(clip, identity.sidecar, settings, region)
    for frame in kept:
        report.frames.append(_store_frame(frame, region, identity, spacing, store))
    if header is not None:
        store.put(f"clips/{identity.clip_id}/header.dcm", header, "application/dicom")
    return report


def _deidentified_header(
    path: Path, site_key: bytes, identity: ClipIdentity
) -> tuple[bytes, ClipIdentity]:
    """The de-identified header file, and the identity with the header's patient pseudonym."""
    try:
        header, infant_id = read_deidentified_header(path, site_key)
        encoded = header_bytes(header)
    except Exception as error:  # pydicom and dicognito raise many types on damaged headers
        raise ClipError(path, f"DICOM header cannot be de-identified: {error}") from error
    infant_id = infant_id or identity.infant_id
    return encoded, ClipIdentity(
        identity.clip_id, identity.content_sha256, infant_id, identity.sidecar
    )


def _decode(
    clip: Clip, selection: FrameSelection, report: ClipReport
) -> tuple[list[Frame], MotionAccumulator]:
    kept: list[Frame] = []
    motion = MotionAccumulator()
    selector = FrameSelector(selection)
    frames = tqdm(
        clip.frames(),
        desc=report.clip_id,
        total=clip.header.declared_frames,
        unit="frame",
        leave=False,
        position=1,
    )
    for frame in frames:
        report.frames_decoded += 1
        motion.add(frame.pixels)
        if selector.keep(frame.index, frame.pixels):
            kept.append(frame)
    if not kept:
        raise ClipError(clip.path, "the clip holds no decodable frame")
    return kept, motion


def _imaging_region(clip: Clip, motion: MotionAccumulator, first: Frame) -> ImagingRegion:
    """Declared by DICOM, else where frames change, else (a still) where speckle is."""
    if clip.header.imaging_region is not None:
        return ImagingRegion(*clip.header.imaging_region)
    try:
        if motion.count == 1:
            return texture_region(first.pixels)
        return motion.region()
    except NoImagingRegion as error:
        raise ClipError(clip.path, f"cannot locate the imaging region: {error}") from error


def _spacing_mm_per_px(
    clip: Clip, sidecar: ClipSidecar, settings: IngestSettings, region: ImagingRegion
) -> float | None:
    """DICOM regions first, then the sidecar's depth, then the command line's depth."""
    if clip.header.spacing_mm_per_px is not None:
        return clip.header.spacing_mm_per_px
    depth_mm = sidecar.depth_mm or settings.depth_mm
    return depth_mm / (region.y1 - region.y0) if depth_mm else None


def _store_frame(
    frame: Frame,
    region: ImagingRegion,
    identity: ClipIdentity,
    spacing: float | None,
    store: FrameStore,
) -> FrameRecord:
    pixels = region.blank_outside(_maybe_gray(frame.pixels))
    storage_key = f"frames/{identity.clip_id}/{frame.index:06d}.png"
    store.put(storage_key, encode_png(pixels), "image/png")
    return FrameRecord(
        clip_id=identity.clip_id,
        frame_index=frame.index,
        time_s=frame.time_s,
        view=identity.sidecar.view,
        storage_key=storage_key,
        width_px=int(pixels.shape[1]),
        height_px=int(pixels.shape[0]),
        spacing_mm_per_px=spacing,
        infant_id=identity.infant_id,
    )


def _maybe_gray(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels
    spread = pixels.max(axis=2).astype(np.int16) - pixels.min(axis=2)
    if int(spread.max()) <= GRAY_TOLERANCE:
        return pixels[:, :, 0].copy()
    return pixels


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of (H, W) gray or (H, W, 3) RGB pixels, with no metadata chunks."""
    bgr = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", bgr)
    if not ok:
        raise ValueError(f"PNG encoding failed for a frame of shape {pixels.shape}")
    return encoded.tobytes()
