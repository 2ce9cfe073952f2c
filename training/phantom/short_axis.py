"""Paint the transverse (short-axis) scene onto a tissue canvas in body millimetres.

Lateral positions are measured from the midline, which sits at ``u = scene.midline_mm``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.phantom import canvas as tissue
from training.phantom.anatomy import Patient, ShortAxisScene
from training.phantom.canvas import Box, TissueCanvas, structure_label

_DURA_MM = 0.3
_PC_HALF_ANGLE_RAD = np.deg2rad(70.0)


@dataclass(frozen=True)
class _Sac:
    """The thecal sac ellipse: centre (u, d) and semi-axes, mm."""

    u_mm: float
    d_mm: float
    half_width_mm: float
    half_ap_mm: float

    def radius(self, box: Box) -> np.ndarray:
        """Normalised elliptical radius of each box pixel (1 on the sac wall)."""
        return np.hypot(
            (box.u_mm - self.u_mm) / self.half_width_mm, (box.d_mm - self.d_mm) / self.half_ap_mm
        )


def paint_short_axis(canvas: TissueCanvas, patient: Patient, scene: ShortAxisScene) -> None:
    """Fill ``canvas`` with the transverse anatomy; later layers overwrite earlier ones."""
    sac = _Sac(
        scene.midline_mm,
        patient.skin_to_csf_mm + patient.canal_ap_mm / 2,
        patient.sac_width_mm / 2,
        patient.canal_ap_mm / 2,
    )
    _paint_layers(canvas, scene)
    _paint_deep_soft_tissue(canvas, patient, scene, sac)
    _paint_laminae(canvas, patient, scene, sac)
    _paint_cap(canvas, patient, scene)
    _paint_sac_wall(canvas, patient, sac)
    _paint_sac_contents(canvas, patient, scene, sac)
    _paint_body(canvas, scene, sac)


def _lamina_span(patient: Patient, scene: ShortAxisScene, sac: _Sac) -> tuple[float, ...]:
    """(inner |x|, inner depth, outer |x|, outer depth) of each lamina's centre line, mm."""
    base_mm = patient.skin_to_csf_mm - patient.posterior_complex_mm - scene.lamina_gap_mm
    outer_x = sac.half_width_mm + patient.posterior_complex_mm + 2.5
    return 0.8 * scene.cap_half_width_mm, base_mm, outer_x, scene.lamina_end_depth_mm


def _lamina_depth(box: Box, span: tuple[float, ...], midline_mm: float) -> np.ndarray:
    inner_x, inner_d, outer_x, outer_d = span
    frac = (np.abs(box.u_mm - midline_mm) - inner_x) / (outer_x - inner_x)
    return inner_d + frac * (outer_d - inner_d)


def _paint_layers(canvas: TissueCanvas, scene: ShortAxisScene) -> None:
    """Fat above the thoracolumbar fascia, paraspinal muscle with septa below it."""
    box = canvas.whole()
    fascia_mm = scene.cap_tip_depth_mm - 0.6 + 0.2 * np.sin(box.u_mm / 6.0)
    fat = box.d_mm < fascia_mm
    canvas.paint(box, fat, tissue.FAT, texture=canvas.texture(box, "lobules", 0.35))
    canvas.paint(box, ~fat, tissue.MUSCLE, texture=canvas.texture(box, "fibres", 0.3))
    canvas.paint(box, np.abs(box.d_mm - fascia_mm) < 0.15, tissue.FASCIA)
    lateral = np.abs(box.u_mm - scene.midline_mm)
    septum_mm = scene.cap_tip_depth_mm + 6.0 - 0.3 * lateral
    septum = (np.abs(box.d_mm - septum_mm) < 0.12) & (lateral > 3.0) & (box.d_mm > fascia_mm + 0.5)
    canvas.paint(box, septum, tissue.FASCIA)


def _paint_deep_soft_tissue(
    canvas: TissueCanvas, patient: Patient, scene: ShortAxisScene, sac: _Sac
) -> None:
    """Soft tissue under the laminae and beside the canal and body."""
    box = canvas.box(-np.inf, np.inf, scene.cap_tip_depth_mm, np.inf)
    span = _lamina_span(patient, scene, sac)
    below = (box.d_mm > _lamina_depth(box, span, sac.u_mm)) | (box.d_mm > span[3])
    canvas.paint(box, below, tissue.SOFT, texture=canvas.texture(box, "lobules", 0.3))


def _paint_laminae(
    canvas: TissueCanvas, patient: Patient, scene: ShortAxisScene, sac: _Sac
) -> None:
    """Cartilage laminae sloping from the cap; lateral parts ossified with a bright top."""
    span = _lamina_span(patient, scene, sac)
    box = canvas.box(sac.u_mm - span[2] - 1, sac.u_mm + span[2] + 1, span[1] - 2, span[3] + 2)
    centre_mm = _lamina_depth(box, span, sac.u_mm)
    lateral = np.abs(box.u_mm - sac.u_mm)
    half_t = scene.lamina_thickness_mm / 2
    clear = sac.radius(box) > 1.0 + (patient.posterior_complex_mm + 0.3) / sac.half_ap_mm
    band = (np.abs(box.d_mm - centre_mm) < half_t) & (lateral >= span[0]) & (lateral <= span[2])
    band &= clear
    label = structure_label("spinous_process")
    canvas.paint(box, band, tissue.CARTILAGE, label, canvas.texture(box, "lobules", 0.2))
    bony = band & (lateral >= scene.lamina_bone_from_mm)
    canvas.paint(box, bony, tissue.BONE, label, bone=True)
    top = bony & (box.d_mm - (centre_mm - half_t) < 0.35)
    canvas.paint(box, top, tissue.BONE_SURFACE, label, bone=True)


def _paint_cap(canvas: TissueCanvas, patient: Patient, scene: ShortAxisScene) -> None:
    """The midline spinous process: a rounded cartilage cap, sometimes with a bony core."""
    tip_mm, half_w = scene.cap_tip_depth_mm, scene.cap_half_width_mm
    base_mm = patient.skin_to_csf_mm - patient.posterior_complex_mm - scene.lamina_gap_mm
    box = canvas.box(scene.midline_mm - 2 * half_w, scene.midline_mm + 2 * half_w, tip_mm, base_mm)
    rel = np.clip((box.d_mm - tip_mm) / (base_mm - tip_mm), 0.0, 1.0)
    half_mm = half_w * (0.8 + 0.4 * rel)
    v = np.clip((box.u_mm - scene.midline_mm) / half_mm, -1.0, 1.0)
    top_mm = tip_mm + half_w * (1.0 - np.sqrt(1.0 - v**2))
    cap = (np.abs(box.u_mm - scene.midline_mm) < half_mm) & (box.d_mm >= top_mm)
    label = structure_label("spinous_process")
    canvas.paint(box, cap, tissue.CARTILAGE, label, canvas.texture(box, "lobules", 0.2))
    if scene.cap_ossified:
        centre_d = tip_mm + 0.45 * (base_mm - tip_mm)
        ellipse = (
            np.hypot((box.u_mm - scene.midline_mm) / (0.55 * half_w), (box.d_mm - centre_d) / 0.6)
            ** 2
        )
        canvas.paint(box, cap & (ellipse <= 1.0), tissue.BONE, label, bone=True)
        arc = cap & (ellipse <= 1.0) & (ellipse > 0.45) & (box.d_mm < centre_d)
        canvas.paint(box, arc, tissue.BONE_SURFACE, label, bone=True)


def _paint_sac_wall(canvas: TissueCanvas, patient: Patient, sac: _Sac) -> None:
    """Thin dura all round; the posterior arc is the bright posterior complex."""
    reach = patient.posterior_complex_mm + 1.0
    box = canvas.box(
        sac.u_mm - sac.half_width_mm - reach,
        sac.u_mm + sac.half_width_mm + reach,
        sac.d_mm - sac.half_ap_mm - reach,
        sac.d_mm + sac.half_ap_mm + reach,
    )
    radius = sac.radius(box)
    wall_mm = (radius - 1.0) * 0.5 * (sac.half_width_mm + sac.half_ap_mm)
    canvas.paint(box, (wall_mm >= 0) & (wall_mm < _DURA_MM), tissue.DURA)
    angle = np.arctan2(
        (box.u_mm - sac.u_mm) / sac.half_width_mm, (sac.d_mm - box.d_mm) / sac.half_ap_mm
    )
    rel = 1.0 - wall_mm / patient.posterior_complex_mm
    arc = (np.abs(angle) < _PC_HALF_ANGLE_RAD) & (wall_mm >= 0) & (rel > 0)
    label = structure_label("posterior_complex")
    canvas.paint(box, arc & (rel < 0.4), tissue.LIGAMENTUM_FLAVUM, label)
    canvas.paint(box, arc & (rel >= 0.4) & (rel < 0.62), tissue.EPIDURAL, label)
    canvas.paint(box, arc & (rel >= 0.62), tissue.DURA, label)


def _paint_sac_contents(
    canvas: TissueCanvas, patient: Patient, scene: ShortAxisScene, sac: _Sac
) -> None:
    """CSF filling the sac, root dots in its dependent part, and the cord above the conus."""
    box = canvas.box(
        sac.u_mm - sac.half_width_mm,
        sac.u_mm + sac.half_width_mm,
        sac.d_mm - sac.half_ap_mm,
        sac.d_mm + sac.half_ap_mm,
    )
    inside = sac.radius(box) < 1.0
    canvas.paint(box, inside, tissue.CSF, structure_label("csf"))
    for dot in scene.roots:
        u_mm = sac.u_mm + dot.x_frac * sac.half_width_mm
        d_mm = sac.d_mm + dot.d_frac * sac.half_ap_mm
        root = np.hypot(box.u_mm - u_mm, box.d_mm - d_mm) < dot.radius_mm
        canvas.paint(box, root & inside, tissue.ROOT, structure_label("cauda_equina"))
    if scene.above_conus:
        _paint_cord(canvas, box, patient, scene, sac)


def _paint_cord(
    canvas: TissueCanvas, box: Box, patient: Patient, scene: ShortAxisScene, sac: _Sac
) -> None:
    """Round hypoechoic cord with a bright pial rim and a central echo."""
    half_ap = patient.cord_diameter_mm / 2
    half_w = half_ap * scene.cord_widening
    centre_d = sac.d_mm + scene.cord_drop_mm
    radius = np.hypot((box.u_mm - sac.u_mm) / half_w, (box.d_mm - centre_d) / half_ap)
    label = structure_label("cord")
    canvas.paint(box, radius < 1.0, tissue.PIA, label)
    canvas.paint(box, radius < 1.0 - 0.22 / half_ap, tissue.CORD, label)
    central = np.hypot((box.u_mm - sac.u_mm) / 0.45, (box.d_mm - centre_d - 0.3) / 0.15) < 1.0
    canvas.paint(box, central, tissue.CENTRAL_ECHO, label)


def _paint_body(canvas: TissueCanvas, scene: ShortAxisScene, sac: _Sac) -> None:
    """The vertebral body: a wide rounded arc under the sac, bright on top, shadowing below."""
    top_mm = sac.d_mm + sac.half_ap_mm + _DURA_MM
    half_w, half_h = scene.body_half_width_mm, scene.body_half_height_mm
    box = canvas.box(sac.u_mm - half_w, sac.u_mm + half_w, top_mm, top_mm + 2 * half_h)
    centre_d = top_mm + half_h
    radius = np.hypot((box.u_mm - sac.u_mm) / half_w, (box.d_mm - centre_d) / half_h)
    body = radius <= 1.0
    label = structure_label("vertebral_body")
    canvas.paint(box, body, tissue.BODY, label, canvas.texture(box, "lobules", 0.3), bone=True)
    surface = body & (radius > 1.0 - 0.45 / half_h) & (box.d_mm < centre_d)
    canvas.paint(box, surface, tissue.BODY_SURFACE, label, bone=True)
