"""Seeded anatomy of a synthetic infant lumbar spine, every length in millimetres.

Scenes are drawn in body coordinates ``(u, d)``: ``u`` runs along the probe's long edge when the
probe rests at the start of the clip (long axis: along the spine, cranial negative; short axis:
across the back), ``d`` is depth below the skin. ``u = 0`` is the probe's resting centre.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Patient:
    """Measurements shared by both views of one infant (one seed)."""

    weight_kg: float
    skin_to_csf_mm: float
    canal_ap_mm: float
    """Dural sac, front to back (posterior dura to anterior dura)."""
    sac_width_mm: float
    cord_diameter_mm: float
    posterior_complex_mm: float
    """Ligamentum flavum, epidural space and posterior dura together."""
    segment_mm: float
    """Spacing of neighbouring vertebrae (spinous processes, bodies)."""


@dataclass(frozen=True)
class SpinousProcess:
    """One spinous process in the long axis; ``ossified`` ones carry a bony core that shadows."""

    centre_mm: float
    tip_depth_mm: float
    half_width_mm: float
    ossified: bool
    core_depth_frac: float
    """Top of the bony core as a fraction of the process height below its tip."""
    core_half_height_mm: float
    slant: float
    """Caudal shift of the process's centre per mm of depth (it leans towards the feet)."""


@dataclass(frozen=True)
class CaudaStrand:
    """A nerve root (or the filum) running caudally from ``start_mm`` in the dependent sac."""

    start_mm: float
    depth_frac: float
    """Resting depth as a fraction of the canal, 0 at the posterior wall, 1 at the anterior."""
    thickness_mm: float
    wave_mm: float
    wave_period_mm: float
    wave_phase: float


@dataclass(frozen=True)
class LongAxisScene:
    """Sagittal midline scene: processes, canal contents and vertebral bodies."""

    processes: tuple[SpinousProcess, ...]
    slope: float
    """Depth change of the canal per mm along the spine (dimensionless)."""
    curvature_per_mm: float
    conus_tip_mm: float
    conus_taper_mm: float
    cord_axis_frac: float
    strands: tuple[CaudaStrand, ...]
    """Nerve roots; the first strand is the filum terminale."""
    body_phase_mm: float
    body_fraction: float
    """Share of a segment taken by the vertebral body; the rest is disc."""

    def canal_offset_mm(self, u_mm: np.ndarray | float) -> np.ndarray | float:
        """Depth of the canal at ``u_mm`` relative to its depth at ``u = 0``."""
        return self.slope * u_mm + self.curvature_per_mm * u_mm**2


@dataclass(frozen=True)
class NerveRootDot:
    """A root cut across in the short axis, placed in sac-relative units (-1..1)."""

    x_frac: float
    d_frac: float
    radius_mm: float


@dataclass(frozen=True)
class ShortAxisScene:
    """Transverse scene: midline cap and laminae, sac with cord or roots, vertebral body."""

    midline_mm: float
    above_conus: bool
    cap_tip_depth_mm: float
    cap_half_width_mm: float
    cap_ossified: bool
    lamina_gap_mm: float
    """Soft tissue between the cap's base and the posterior complex."""
    lamina_thickness_mm: float
    lamina_bone_from_mm: float
    """Distance from the midline beyond which the laminae are ossified."""
    lamina_end_depth_mm: float
    cord_drop_mm: float
    cord_widening: float
    roots: tuple[NerveRootDot, ...]
    body_half_width_mm: float
    body_half_height_mm: float


def sample_patient(rng: np.random.Generator) -> Patient:
    """Draw an infant of 2.5-5 kg; skin-to-CSF depth follows weight, 10-15 mm."""
    weight_kg = float(rng.uniform(2.5, 5.0))
    skin_to_csf_mm = float(np.clip(2.0 * weight_kg + 5.0 + rng.normal(0.0, 0.5), 10.0, 15.0))
    canal_ap_mm = float(np.clip(rng.normal(8.4, 0.4), 7.4, 9.4))
    return Patient(
        weight_kg=weight_kg,
        skin_to_csf_mm=skin_to_csf_mm,
        canal_ap_mm=canal_ap_mm,
        sac_width_mm=canal_ap_mm * float(rng.uniform(1.1, 1.35)),
        cord_diameter_mm=float(np.clip(rng.normal(4.4, 0.25), 3.8, 5.0)),
        posterior_complex_mm=float(rng.uniform(1.1, 1.6)),
        segment_mm=float(rng.uniform(8.0, 10.0)),
    )


def sample_long_axis(
    rng: np.random.Generator, patient: Patient, half_field_mm: float, margin_mm: float
) -> LongAxisScene:
    """Draw a sagittal scene covering ``u`` in +-(half_field_mm + margin_mm)."""
    slope, curvature = float(rng.uniform(-0.04, 0.04)), float(rng.uniform(-0.0015, 0.0015))
    reach_mm = half_field_mm + margin_mm + patient.segment_mm
    processes = _sample_processes(
        rng, patient, reach_mm, half_field_mm, lambda u_mm: slope * u_mm + curvature * u_mm**2
    )
    taper_mm = float(rng.uniform(6.0, 10.0))
    return LongAxisScene(
        processes=processes,
        slope=slope,
        curvature_per_mm=curvature,
        conus_tip_mm=_sample_conus_tip(rng, half_field_mm, taper_mm),
        conus_taper_mm=taper_mm,
        cord_axis_frac=float(rng.uniform(0.45, 0.6)),
        strands=_sample_strands(rng, taper_mm),
        body_phase_mm=processes[0].centre_mm - patient.segment_mm * float(rng.uniform(0.2, 0.4)),
        body_fraction=float(rng.uniform(0.68, 0.78)),
    )


def _sample_processes(
    rng: np.random.Generator,
    patient: Patient,
    reach_mm: float,
    half_field_mm: float,
    canal_offset: Callable[[float], float],
) -> tuple[SpinousProcess, ...]:
    """Processes every segment along +-reach_mm, at least one of those in view ossified."""
    segment_mm = patient.segment_mm
    first_mm = -reach_mm + float(rng.uniform(0.0, segment_mm))
    centres = np.arange(first_mm, reach_mm, segment_mm)
    tip_base_mm = 2.6 + 0.25 * (patient.skin_to_csf_mm - 10.0) + float(rng.uniform(0.0, 1.0))
    propensity = float(rng.uniform(0.2, 0.6))
    ossified = rng.random(len(centres)) < propensity
    in_view = np.flatnonzero(np.abs(centres) < half_field_mm - 3.0)
    if not ossified[in_view].any():
        ossified[rng.choice(in_view)] = True
    return tuple(
        SpinousProcess(
            centre_mm=float(centre),
            tip_depth_mm=tip_base_mm + canal_offset(float(centre)) + float(rng.normal(0, 0.25)),
            half_width_mm=segment_mm * float(rng.uniform(0.25, 0.33)),
            ossified=bool(is_bony),
            core_depth_frac=float(rng.uniform(0.2, 0.5)),
            core_half_height_mm=float(rng.uniform(0.6, 1.1)),
            slant=float(rng.uniform(0.0, 0.3)),
        )
        for centre, is_bony in zip(centres, ossified, strict=True)
    )


def _sample_conus_tip(rng: np.random.Generator, half_field_mm: float, taper_mm: float) -> float:
    """Conus tip inside the field for about half the clips, else cranial or caudal of it."""
    draw = rng.random()
    if draw < 0.55:
        return float(rng.uniform(-half_field_mm + taper_mm, half_field_mm - 4.0))
    if draw < 0.8:
        return float(-half_field_mm - rng.uniform(8.0, 30.0))
    return float(half_field_mm + taper_mm + rng.uniform(8.0, 30.0))


def _sample_strands(rng: np.random.Generator, taper_mm: float) -> tuple[CaudaStrand, ...]:
    filum = CaudaStrand(
        0.0,
        float(rng.uniform(0.55, 0.7)),
        float(rng.uniform(0.8, 1.5)),
        float(rng.uniform(0.1, 0.3)),
        float(rng.uniform(15.0, 30.0)),
        float(rng.uniform(0.0, 2 * np.pi)),
    )
    roots = tuple(
        CaudaStrand(
            start_mm=-float(rng.uniform(0.0, taper_mm + 2.0)),
            depth_frac=float(rng.uniform(0.62, 0.92)),
            thickness_mm=float(rng.uniform(0.22, 0.4)),
            wave_mm=float(rng.uniform(0.1, 0.35)),
            wave_period_mm=float(rng.uniform(8.0, 20.0)),
            wave_phase=float(rng.uniform(0.0, 2 * np.pi)),
        )
        for _ in range(int(rng.integers(4, 8)))
    )
    return (filum, *roots)


def sample_short_axis(rng: np.random.Generator, patient: Patient) -> ShortAxisScene:
    """Draw a transverse scene; about half the clips lie above the conus (cord in view)."""
    above_conus = bool(rng.random() < 0.5)
    half_ap_mm = patient.canal_ap_mm / 2
    return ShortAxisScene(
        midline_mm=float(rng.normal(0.0, 1.2)),
        above_conus=above_conus,
        cap_tip_depth_mm=2.6 + 0.25 * (patient.skin_to_csf_mm - 10.0) + float(rng.uniform(0, 1)),
        cap_half_width_mm=float(rng.uniform(1.5, 2.3)),
        cap_ossified=bool(rng.random() < 0.25),
        lamina_gap_mm=float(rng.uniform(1.2, 2.2)),
        lamina_thickness_mm=float(rng.uniform(1.2, 1.8)),
        lamina_bone_from_mm=float(rng.uniform(4.5, 7.0)),
        lamina_end_depth_mm=patient.skin_to_csf_mm + half_ap_mm - float(rng.uniform(0.5, 2.0)),
        cord_drop_mm=float(rng.uniform(0.0, 0.8)),
        cord_widening=float(rng.uniform(1.05, 1.25)),
        roots=_sample_root_dots(rng, above_conus),
        body_half_width_mm=float(rng.uniform(7.0, 9.0)),
        body_half_height_mm=float(rng.uniform(5.0, 7.0)),
    )


def _sample_root_dots(rng: np.random.Generator, above_conus: bool) -> tuple[NerveRootDot, ...]:
    """Roots in the dependent sac; above the conus only a few beside the cord, no filum."""
    count = int(rng.integers(0, 4)) if above_conus else int(rng.integers(8, 15))
    angles = rng.uniform(-1.1, 1.1, count)
    if above_conus:
        angles = np.sign(angles) * rng.uniform(0.6, 1.2, count)
    radii = rng.uniform(0.75, 0.85, count) if above_conus else rng.uniform(0.45, 0.85, count)
    dots = [
        NerveRootDot(float(np.sin(a) * r), float(np.cos(a) * r), float(rng.uniform(0.25, 0.4)))
        for a, r in zip(angles, radii, strict=True)
    ]
    if not above_conus:
        filum = NerveRootDot(
            float(rng.normal(0, 0.1)), float(rng.uniform(0.1, 0.35)), float(rng.uniform(0.4, 0.7))
        )
        dots.insert(0, filum)
    return tuple(dots)
