"""Phantom clips: seeded parameters in, frames with pixel ground truth out, one at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from label_config.schema import SHORT_AXIS, STRUCTURES, VIEWS
from training.phantom import acquisition, anatomy
from training.phantom.acquisition import ImagingGeometry, ProbeMotion, ProbePose, ScannerSettings
from training.phantom.anatomy import LongAxisScene, Patient, ShortAxisScene
from training.phantom.canvas import BONE_FLAG, TissueCanvas, structure_label
from training.phantom.header import draw_overlay
from training.phantom.identity import FakeIdentity, fake_identity
from training.phantom.long_axis import paint_long_axis
from training.phantom.render import (
    NOISE_POOL_MARGIN_PX,
    RegionRaster,
    SamplingMaps,
    render_region,
    sampling_maps,
)
from training.phantom.short_axis import paint_short_axis

_CANVAS_DEPTH_MARGIN_MM = 3.0
_SAC_CONTENTS = ("csf", "cord", "cauda_equina")


@dataclass(frozen=True)
class PhantomFrame:
    """One displayed frame and its ground truth.

    ``image``: (H, W) uint8, the whole frame including the header band. ``masks``: (S, H, W)
    uint8 in {0, 1}, channel order of ``STRUCTURES``; a structure absent from the view is an
    all-zero channel, and every channel is zero outside the imaging region. ``time_s`` is the
    frame's time from the start of the clip.
    """

    image: np.ndarray
    masks: np.ndarray
    time_s: float


class PhantomClip:
    """A synthetic clip held as parameters; frames are rendered on demand and deterministically.

    The tissue map of the clip (in body millimetres) is rasterised once, on the first render;
    ``render(i)`` then returns identical arrays for the same (seed, view, i) every time.
    """

    def __init__(
        self,
        seed: int,
        view: str,
        fps: float,
        n_frames: int,
        shape: tuple[int, int],
        patient: Patient,
        scene: LongAxisScene | ShortAxisScene,
        scanner: ScannerSettings,
        motion: ProbeMotion,
        identity: FakeIdentity,
    ):
        self.seed, self.view, self.fps, self.n_frames = seed, view, fps, n_frames
        self.height_px, self.width_px = shape
        self.patient, self.scene, self.scanner, self.motion = patient, scene, scanner, motion
        self.identity = identity
        self.geometry: ImagingGeometry = acquisition.fit_geometry(scanner, shape[1], shape[0])
        self.spacing_mm_per_px = self.geometry.spacing_mm_per_px
        self.imaging_region = self.geometry.region
        self.identifiers = identity.as_dict()
        self.skin_to_csf_mm = patient.skin_to_csf_mm

    def __len__(self) -> int:
        return self.n_frames

    def __iter__(self) -> Iterator[PhantomFrame]:
        return (self.render(index) for index in range(self.n_frames))

    def __repr__(self) -> str:
        return (
            f"PhantomClip(seed={self.seed}, view={self.view!r}, n_frames={self.n_frames}, "
            f"{self.width_px}x{self.height_px} px, {self.spacing_mm_per_px:.4f} mm/px)"
        )

    def pose(self, index: int) -> ProbePose:
        """Probe pose of frame ``index`` relative to the clip's resting pose."""
        self._check_index(index)
        return self.motion.pose(index / self.fps)

    def render(self, index: int) -> PhantomFrame:
        """Frame ``index`` (0 <= index < n_frames); raises IndexError outside that range."""
        raster = self._render_region(index)
        image = self._overlay.copy()
        masks = np.zeros((len(STRUCTURES), self.height_px, self.width_px), np.uint8)
        x0, y0, x1, y1 = self.imaging_region
        image[y0:y1, x0:x1] = raster.image
        masks[:, y0:y1, x0:x1] = self._masks_from_labels(raster.labels)
        return PhantomFrame(image=image, masks=masks, time_s=index / self.fps)

    def bone_mask(self, index: int) -> np.ndarray:
        """(H, W) uint8 in {0, 1}: ossified bone in frame ``index``; it shadows what lies deeper.

        Not part of the label schema; it renders the frame again, so it costs one ``render``.
        """
        bone = np.zeros((self.height_px, self.width_px), np.uint8)
        x0, y0, x1, y1 = self.imaging_region
        bone[y0:y1, x0:x1] = self._render_region(index).labels >= BONE_FLAG
        return bone

    def _render_region(self, index: int) -> RegionRaster:
        pose = self.pose(index)
        rng = np.random.default_rng([self.seed, 31 + VIEWS.index(self.view), index])
        oy, ox = rng.integers(0, NOISE_POOL_MARGIN_PX, 2)
        rows, cols = self.geometry.shape
        fresh = self._noise_pool[oy : oy + rows, ox : ox + cols]
        return render_region(self._maps, self.scanner, self.geometry, pose, fresh)

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.n_frames:
            raise IndexError(f"frame index must be in [0, {self.n_frames}), got {index}")

    def _masks_from_labels(self, labels: np.ndarray) -> np.ndarray:
        """(S, h, w) uint8 channels from (h, w) label values via a per-view bit table."""
        bits = self._channel_bits[labels]
        shifts = np.arange(len(STRUCTURES), dtype=np.uint16)[:, None, None]
        return ((bits[None] >> shifts) & 1).astype(np.uint8)

    @cached_property
    def _channel_bits(self) -> np.ndarray:
        """(256,) uint16: the mask channels set by each label value in this view."""
        table = np.zeros(256, np.uint16)
        for index, structure in enumerate(STRUCTURES):
            if self.view in structure.views:
                table[index + 1] |= 1 << index
        if self.view == SHORT_AXIS:
            sac_bit = 1 << (structure_label("thecal_sac") - 1)
            for key in _SAC_CONTENTS:
                table[structure_label(key)] |= sac_bit
        table[BONE_FLAG:] = table[: 256 - BONE_FLAG]
        return table

    @cached_property
    def _maps(self) -> SamplingMaps:
        canvas = self._new_canvas()
        if self.view == SHORT_AXIS:
            paint_short_axis(canvas, self.patient, self.scene)
        else:
            paint_long_axis(canvas, self.patient, self.scene)
        return sampling_maps(canvas, self._rng("scatterers"))

    def _new_canvas(self) -> TissueCanvas:
        rows, cols = self.geometry.shape
        half_mm = cols * self.spacing_mm_per_px / 2 + acquisition.MOTION_MARGIN_MM
        depth_mm = rows * self.spacing_mm_per_px + _CANVAS_DEPTH_MARGIN_MM
        return TissueCanvas(
            (-half_mm, half_mm),
            (-_CANVAS_DEPTH_MARGIN_MM, depth_mm),
            self.spacing_mm_per_px / 2,
            self._rng("textures"),
        )

    @cached_property
    def _noise_pool(self) -> np.ndarray:
        rows, cols = self.geometry.shape
        shape = (rows + NOISE_POOL_MARGIN_PX, cols + NOISE_POOL_MARGIN_PX, 2)
        return self._rng("noise pool").standard_normal(shape, dtype=np.float32)

    @cached_property
    def _overlay(self) -> np.ndarray:
        shape = (self.height_px, self.width_px)
        return draw_overlay(shape, self.geometry, self.identity, self.scanner, self.view)

    def _rng(self, purpose: str) -> np.random.Generator:
        tags = {"textures": 41, "scatterers": 42, "noise pool": 43}
        return np.random.default_rng([self.seed, tags[purpose], VIEWS.index(self.view)])


def generate_clip(
    seed: int,
    view: str,
    duration_s: float = 6.0,
    fps: float = 30.0,
    width_px: int = 480,
    height_px: int = 400,
) -> PhantomClip:
    """A phantom clip of ``round(duration_s * fps)`` frames of (height_px, width_px) pixels.

    Both views of one seed show the same infant (weight, canal size, identifiers); the scene,
    scanner settings and probe motion differ per view. Raises ValueError for a negative seed,
    an unknown view, a non-positive duration or frame rate, or a frame under 160 x 120 px.
    """
    _check_arguments(seed, view, duration_s, fps)
    patient_rng = np.random.default_rng([seed, 11])
    patient = anatomy.sample_patient(patient_rng)
    identity = fake_identity(patient_rng, patient.weight_kg)
    view_seeds = np.random.SeedSequence([seed, 21 + VIEWS.index(view)]).spawn(3)
    scanner_rng, scene_rng, motion_rng = (np.random.default_rng(s) for s in view_seeds)
    scanner = acquisition.sample_scanner(scanner_rng, patient)
    geometry = acquisition.fit_geometry(scanner, width_px, height_px)
    if view == SHORT_AXIS:
        scene = anatomy.sample_short_axis(scene_rng, patient)
    else:
        half_field_mm = geometry.shape[1] * geometry.spacing_mm_per_px / 2
        scene = anatomy.sample_long_axis(
            scene_rng, patient, half_field_mm, acquisition.MOTION_MARGIN_MM
        )
    n_frames = max(1, int(round(duration_s * fps)))
    return PhantomClip(
        int(seed),
        view,
        float(fps),
        n_frames,
        (height_px, width_px),
        patient,
        scene,
        scanner,
        acquisition.sample_motion(motion_rng),
        identity,
    )


def _check_arguments(seed: int, view: str, duration_s: float, fps: float) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    if not duration_s > 0 or not fps > 0:
        raise ValueError(f"duration_s and fps must be positive, got {duration_s} and {fps}")
