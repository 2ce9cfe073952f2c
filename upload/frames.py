"""One clip to de-identified PNG frames under the media root."""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from label_config import VIEWS
from upload.clips import Clip, Frame, open_clip
from upload.errors import ClipError
from upload.imaging_region import ImagingRegion, MotionAccumulator, NoImagingRegion
from upload.pseudonyms import clip_pseudonym, content_sha256
from upload.storage import FrameStore

logger = logging.getLogger(__name__)

UNKNOWN_VIEW = "unknown"
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


@dataclass
class ClipReport:
    source: Path
    clip_id: str | None = None
    content_sha256: str | None = None
    frames_decoded: int = 0
    frames: list[FrameRecord] = field(default_factory=list)
    blanked_share: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class FrameSelection:
    step: int = 10
    """Keep every ``step``-th frame, starting with the first."""
    max_frames: int = 200

    def keeps(self, index: int, n_kept: int) -> bool:
        return index % self.step == 0 and n_kept < self.max_frames


def ingest_clip(
    path: Path, store: FrameStore, site_key: bytes, selection: FrameSelection
) -> ClipReport:
    """Decode ``path``, blank all but its imaging region and store the kept frames as PNG.

    Raises ClipError for an unreadable clip or one whose imaging region cannot be found; no
    frame of such a clip is stored.
    """
    report = ClipReport(source=path)
    clip = open_clip(path)
    report.content_sha256 = content_sha256(path)
    report.clip_id = clip_pseudonym(site_key, report.content_sha256)
    kept, motion = _decode(clip, selection, report)
    region = _imaging_region(clip, motion)
    report.blanked_share = region.blanked_share(clip.header.height_px, clip.header.width_px)
    view = clip_view(path)
    for frame in kept:
        report.frames.append(_store(frame, region, report.clip_id, view, clip, store))
    return report


def _decode(
    clip: Clip, selection: FrameSelection, report: ClipReport
) -> tuple[list[Frame], MotionAccumulator]:
    kept: list[Frame] = []
    motion = MotionAccumulator()
    for frame in clip.frames():
        report.frames_decoded += 1
        motion.add(frame.pixels)
        if selection.keeps(frame.index, len(kept)):
            kept.append(frame)
    if not kept:
        raise ClipError(clip.path, "the clip holds no decodable frame")
    return kept, motion


def _imaging_region(clip: Clip, motion: MotionAccumulator) -> ImagingRegion:
    if clip.header.imaging_region is not None:
        return ImagingRegion(*clip.header.imaging_region)
    try:
        return motion.region()
    except NoImagingRegion as error:
        raise ClipError(clip.path, f"cannot locate the imaging region: {error}") from error


def clip_view(path: Path) -> str:
    """The view named by a ``<clip>.json`` sidecar or by a parent folder; 'unknown' otherwise."""
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        try:
            view = json.loads(sidecar.read_text()).get("view")
        except (json.JSONDecodeError, AttributeError) as error:
            raise ClipError(sidecar, f"sidecar is not a JSON object: {error}") from error
        if view not in VIEWS:
            raise ClipError(sidecar, f"view must be one of {VIEWS}, got {view!r}")
        return view
    for folder in path.parents:
        if folder.name in VIEWS:
            return folder.name
    return UNKNOWN_VIEW


def _store(
    frame: Frame, region: ImagingRegion, clip_id: str, view: str, clip: Clip, store: FrameStore
) -> FrameRecord:
    pixels = region.blank_outside(_maybe_gray(frame.pixels))
    storage_key = f"frames/{clip_id}/{frame.index:06d}.png"
    store.put(storage_key, encode_png(pixels), "image/png")
    return FrameRecord(
        clip_id=clip_id,
        frame_index=frame.index,
        time_s=frame.time_s,
        view=view,
        storage_key=storage_key,
        width_px=int(pixels.shape[1]),
        height_px=int(pixels.shape[0]),
        spacing_mm_per_px=clip.header.spacing_mm_per_px,
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
