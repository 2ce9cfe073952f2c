"""Scanner settings, display geometry and probe motion of one phantom clip."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.phantom.anatomy import Patient

HEADER_PX = 40
"""Height of the burned-in text band at the top of every frame."""
_TOP_GAP_PX = 4
_SIDE_PX = 8
_RULER_PX = 36
_MIN_FRAME_PX = (160, 120)


@dataclass(frozen=True)
class ScannerSettings:
    """Per-clip settings of a linear probe (7-15 MHz) and its display chain."""

    depth_mm: float
    footprint_mm: float
    frequency_mhz: float
    focus_depth_mm: float
    gain_db: float
    dynamic_range_db: float
    tgc_per_mm: float
    """Exponential time-gain slope, neper per mm; soft tissue loses about 0.09 (imperfect match)."""
    tgc_ripple_db: tuple[float, ...]
    """Gain error of the depth sliders, evenly spaced from skin to full depth."""
    speckle_refresh: float
    """Share of speckle power that is new in every frame (0 = frozen scatterers)."""
    noise_floor: float


@dataclass(frozen=True)
class ImagingGeometry:
    """Where the image sits in a frame and its isotropic pixel spacing."""

    spacing_mm_per_px: float
    region: tuple[int, int, int, int]
    """(x0, y0, x1, y1) in frame pixels, half-open."""

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the imaging region."""
        x0, y0, x1, y1 = self.region
        return y1 - y0, x1 - x0


@dataclass(frozen=True)
class ProbePose:
    """Probe position relative to its resting pose: lateral and depth shift in mm, tilt."""

    lateral_mm: float
    depth_mm: float
    tilt_deg: float


@dataclass(frozen=True)
class ProbeMotion:
    """Sum of sinusoids per pose component; rows are (amplitude, frequency_hz, phase_rad)."""

    lateral: tuple[tuple[float, float, float], ...]
    depth: tuple[tuple[float, float, float], ...]
    tilt: tuple[tuple[float, float, float], ...]

    def pose(self, time_s: float) -> ProbePose:
        """Pose at ``time_s`` seconds; smooth drift, breathing and hand tremor."""
        return ProbePose(
            lateral_mm=_sinusoids(self.lateral, time_s),
            depth_mm=_sinusoids(self.depth, time_s),
            tilt_deg=_sinusoids(self.tilt, time_s),
        )


MOTION_MARGIN_MM = 7.0
"""Largest lateral excursion of any field point from its resting position, tilt included."""


def _sinusoids(terms: tuple[tuple[float, float, float], ...], time_s: float) -> float:
    return float(sum(a * np.sin(2 * np.pi * f * time_s + p) for a, f, p in terms))


def sample_scanner(rng: np.random.Generator, patient: Patient) -> ScannerSettings:
    """Draw settings; the depth always reaches a few mm below the canal."""
    floor_mm = patient.skin_to_csf_mm + patient.canal_ap_mm + 4.5
    depth_mm = max(float(rng.uniform(25.0, 35.0)), floor_mm)
    return ScannerSettings(
        depth_mm=depth_mm,
        footprint_mm=float(rng.uniform(35.0, 40.0)),
        frequency_mhz=float(rng.uniform(9.0, 13.0)),
        focus_depth_mm=patient.skin_to_csf_mm + float(rng.uniform(0.0, 6.0)),
        gain_db=float(rng.uniform(-5.0, 5.0)),
        dynamic_range_db=float(rng.uniform(48.0, 62.0)),
        tgc_per_mm=float(rng.uniform(0.065, 0.1)),
        tgc_ripple_db=tuple(float(v) for v in rng.normal(0.0, 1.5, 5)),
        speckle_refresh=float(rng.uniform(0.15, 0.4)),
        noise_floor=float(rng.uniform(0.03, 0.06)),
    )


def sample_motion(rng: np.random.Generator) -> ProbeMotion:
    """Drift of a few mm, breathing, tilt of a few degrees and tremor; within the margin."""

    def term(amp_range: tuple[float, float], hz_range: tuple[float, float]):
        return (
            float(rng.uniform(*amp_range)),
            float(rng.uniform(*hz_range)),
            float(rng.uniform(0.0, 2 * np.pi)),
        )

    tremor = tuple(term((0.02, 0.07), (2.0, 6.0)) for _ in range(3))
    return ProbeMotion(
        lateral=(term((0.8, 2.5), (0.08, 0.25)), term((0.2, 1.0), (0.3, 0.8)), *tremor),
        depth=(term((0.05, 0.3), (0.6, 1.0)), term((0.0, 0.05), (2.0, 5.0))),
        tilt=(term((0.8, 3.0), (0.05, 0.3)), term((0.05, 0.2), (2.0, 5.0))),
    )


def fit_geometry(scanner: ScannerSettings, width_px: int, height_px: int) -> ImagingGeometry:
    """Fit the field (footprint x depth, mm) below the header with square pixels.

    Raises ValueError for frames smaller than 160 x 120 px.
    """
    if width_px < _MIN_FRAME_PX[0] or height_px < _MIN_FRAME_PX[1]:
        raise ValueError(
            f"frame must be at least {_MIN_FRAME_PX[0]} x {_MIN_FRAME_PX[1]} px, "
            f"got {width_px} x {height_px}"
        )
    avail_w = width_px - 2 * _SIDE_PX - _RULER_PX
    avail_h = height_px - HEADER_PX - _TOP_GAP_PX - _SIDE_PX
    spacing = max(scanner.depth_mm / avail_h, scanner.footprint_mm / avail_w)
    cols = min(avail_w, int(round(scanner.footprint_mm / spacing)))
    rows = min(avail_h, int(round(scanner.depth_mm / spacing)))
    x0 = _SIDE_PX + (avail_w - cols) // 2
    y0 = HEADER_PX + _TOP_GAP_PX
    return ImagingGeometry(spacing, (x0, y0, x0 + cols, y0 + rows))
