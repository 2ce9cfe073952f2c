"""Paint the sagittal (long-axis) scene onto a tissue canvas in body millimetres."""

from __future__ import annotations

import dataclasses

import numpy as np

from training.phantom import canvas as tissue
from training.phantom.anatomy import CaudaStrand, LongAxisScene, Patient, SpinousProcess
from training.phantom.canvas import Box, TissueCanvas, structure_label

_BODY_THICKNESS_MM = 9.0
_ANTERIOR_DURA_MM = 0.3


def paint_long_axis(canvas: TissueCanvas, patient: Patient, scene: LongAxisScene) -> None:
    """Fill ``canvas`` with skin-to-vertebral-body anatomy; later layers overwrite earlier ones."""
    _paint_subcutis(canvas, scene)
    for process in scene.processes:
        _paint_process(canvas, patient, scene, process)
    _label_windows(canvas, patient, scene)
    _paint_posterior_complex(canvas, patient, scene)
    _paint_canal(canvas, patient, scene)
    _paint_anterior_complex(canvas, patient, scene)


def _csf_top(patient: Patient, scene: LongAxisScene, u_mm: np.ndarray) -> np.ndarray:
    return patient.skin_to_csf_mm + scene.canal_offset_mm(u_mm)


def _pc_top(patient: Patient, scene: LongAxisScene, u_mm: np.ndarray) -> np.ndarray:
    return _csf_top(patient, scene, u_mm) - patient.posterior_complex_mm


def _paint_subcutis(canvas: TissueCanvas, scene: LongAxisScene) -> None:
    """Fat with lobules above the thoracolumbar fascia, fibrous soft tissue below it."""
    box = canvas.whole()
    tip_mm = min(p.tip_depth_mm - scene.canal_offset_mm(p.centre_mm) for p in scene.processes)
    wave_mm = 0.15 * np.sin(box.u_mm / 7.0)
    fascia_mm = tip_mm - 0.7 + wave_mm + scene.canal_offset_mm(box.u_mm)
    fat = box.d_mm < fascia_mm
    canvas.paint(box, fat, tissue.FAT, texture=canvas.texture(box, "lobules", 0.35))
    canvas.paint(box, ~fat, tissue.SOFT, texture=canvas.texture(box, "fibres", 0.3))
    canvas.paint(box, np.abs(box.d_mm - fascia_mm) < 0.15, tissue.FASCIA)
    patchy = canvas.lobules[box.rows, box.cols] > 0.3
    canvas.paint(box, (np.abs(box.d_mm - 0.45 * fascia_mm) < 0.1) & patchy, tissue.FASCIA)


def _process_region(box: Box, process: SpinousProcess, base_mm: np.ndarray) -> np.ndarray:
    """Cartilage block with a rounded tip, widening towards its base on the lamina."""
    height_mm = base_mm - process.tip_depth_mm
    rel = np.clip((box.d_mm - process.tip_depth_mm) / height_mm, 0.0, 1.0)
    half_mm = process.half_width_mm * (0.85 + 0.3 * rel)
    offset_mm = box.u_mm - _process_centre(process, box.d_mm)
    v = np.clip(offset_mm / half_mm, -1.0, 1.0)
    dome_mm = min(process.half_width_mm, 0.4 * float(np.mean(height_mm)))
    top_mm = process.tip_depth_mm + dome_mm * (1.0 - np.sqrt(1.0 - v**2))
    return (np.abs(offset_mm) < half_mm) & (box.d_mm >= top_mm) & (box.d_mm < base_mm)


def _process_centre(process: SpinousProcess, d_mm: np.ndarray) -> np.ndarray:
    return process.centre_mm + process.slant * np.maximum(d_mm - process.tip_depth_mm, 0.0)


def _paint_process(
    canvas: TissueCanvas, patient: Patient, scene: LongAxisScene, process: SpinousProcess
) -> None:
    """Hypoechoic cartilage; ossified processes get a bright bony core that shadows."""
    reach_mm = 1.3 * process.half_width_mm
    ends_mm = process.centre_mm + np.array([-reach_mm, reach_mm + 3.0])
    deepest_mm = float(np.max(_pc_top(patient, scene, ends_mm))) + 0.5
    box = canvas.box(*ends_mm, process.tip_depth_mm - 0.1, deepest_mm)
    if box.u_mm.size == 0 or box.d_mm.size == 0:
        return
    base_mm = _pc_top(patient, scene, box.u_mm)
    region = _process_region(box, process, base_mm)
    label = structure_label("spinous_process")
    canvas.paint(box, region, tissue.PERICHONDRIUM, label)
    core = _process_region(box, _shrunk(process, 0.22), base_mm - 0.22)
    canvas.paint(box, core & region, tissue.CARTILAGE, label, canvas.texture(box, "lobules", 0.2))
    if process.ossified:
        _paint_bony_core(canvas, box, process, base_mm, region)


def _shrunk(process: SpinousProcess, by_mm: float) -> SpinousProcess:
    return dataclasses.replace(
        process,
        tip_depth_mm=process.tip_depth_mm + by_mm,
        half_width_mm=process.half_width_mm - by_mm,
    )


def _paint_bony_core(
    canvas: TissueCanvas, box: Box, process: SpinousProcess, base_mm: np.ndarray, region: np.ndarray
) -> None:
    """An ellipse of bone whose upper surface is a bright arc."""
    height_mm = float(np.mean(base_mm)) - process.tip_depth_mm
    half_h = process.core_half_height_mm
    centre_d = process.tip_depth_mm + process.core_depth_frac * height_mm + half_h
    half_w = 0.65 * process.half_width_mm
    centre_u = _process_centre(process, np.array(centre_d))
    du = np.clip((box.u_mm - centre_u) / half_w, -1.0, 1.0)
    top_mm = centre_d - half_h * np.sqrt(1.0 - du**2)
    inside = ((box.u_mm - centre_u) / half_w) ** 2 + ((box.d_mm - centre_d) / half_h) ** 2
    bone = (inside <= 1.0) & region
    label = structure_label("spinous_process")
    canvas.paint(box, bone, tissue.BONE, label, bone=True)
    canvas.paint(box, bone & (box.d_mm - top_mm < 0.35), tissue.BONE_SURFACE, label, bone=True)


def _label_windows(canvas: TissueCanvas, patient: Patient, scene: LongAxisScene) -> None:
    """Soft tissue between neighbouring processes, from their tips down to the ligamentum flavum."""
    label = structure_label("interspinous_window")
    for upper, lower in zip(scene.processes[:-1], scene.processes[1:], strict=True):
        ends_mm = np.array([upper.centre_mm, lower.centre_mm])
        box = canvas.box(
            *ends_mm,
            min(upper.tip_depth_mm, lower.tip_depth_mm),
            float(np.max(_pc_top(patient, scene, ends_mm))) + 0.5,
        )
        frac = (box.u_mm - upper.centre_mm) / (lower.centre_mm - upper.centre_mm)
        tip_line = upper.tip_depth_mm + frac * (lower.tip_depth_mm - upper.tip_depth_mm)
        between = (box.d_mm >= tip_line) & (box.d_mm < _pc_top(patient, scene, box.u_mm))
        free = canvas.labels[box.rows, box.cols] == 0
        canvas.relabel(box, between & free, label)


def _paint_posterior_complex(canvas: TissueCanvas, patient: Patient, scene: LongAxisScene) -> None:
    """Ligamentum flavum, a thin epidural gap and the posterior dura: one bright band."""
    box = canvas.box(-np.inf, np.inf, patient.skin_to_csf_mm - 8.0, patient.skin_to_csf_mm + 8.0)
    top = _pc_top(patient, scene, box.u_mm)
    rel = (box.d_mm - top) / patient.posterior_complex_mm
    label = structure_label("posterior_complex")
    canvas.paint(box, (rel >= 0) & (rel < 0.4), tissue.LIGAMENTUM_FLAVUM, label)
    canvas.paint(box, (rel >= 0.4) & (rel < 0.62), tissue.EPIDURAL, label)
    canvas.paint(box, (rel >= 0.62) & (rel < 1.0), tissue.DURA, label)


def _cord_axis_mm(patient: Patient, scene: LongAxisScene, u_mm: np.ndarray) -> np.ndarray:
    return _csf_top(patient, scene, u_mm) + scene.cord_axis_frac * patient.canal_ap_mm


def _cord_radius_mm(patient: Patient, scene: LongAxisScene, u_mm: np.ndarray) -> np.ndarray:
    """Full radius cranially, narrowing to zero at the conus tip."""
    remaining = np.clip((scene.conus_tip_mm - u_mm) / scene.conus_taper_mm, 0.0, 1.0)
    return 0.5 * patient.cord_diameter_mm * np.sqrt(remaining)


def _paint_canal(canvas: TissueCanvas, patient: Patient, scene: LongAxisScene) -> None:
    """Anechoic CSF, then the dependent roots and filum, then the cord over them."""
    box = canvas.box(
        -np.inf,
        np.inf,
        patient.skin_to_csf_mm - 6.0,
        patient.skin_to_csf_mm + patient.canal_ap_mm + 6.0,
    )
    top = _csf_top(patient, scene, box.u_mm)
    inside = (box.d_mm >= top) & (box.d_mm < top + patient.canal_ap_mm)
    canvas.paint(box, inside, tissue.CSF, structure_label("csf"))
    for strand in scene.strands:
        _paint_strand(canvas, box, patient, scene, strand, inside)
    _paint_cord(canvas, box, patient, scene)


def _paint_strand(
    canvas: TissueCanvas,
    box: Box,
    patient: Patient,
    scene: LongAxisScene,
    strand: CaudaStrand,
    inside: np.ndarray,
) -> None:
    """A thin bright line leaving the conus and sinking into the dependent sac."""
    start_mm = scene.conus_tip_mm + strand.start_mm
    phase = 2 * np.pi * (box.u_mm - start_mm) / strand.wave_period_mm + strand.wave_phase
    rest_mm = (
        _csf_top(patient, scene, box.u_mm)
        + strand.depth_frac * patient.canal_ap_mm
        + strand.wave_mm * np.sin(phase)
    )
    blend = np.clip((box.u_mm - start_mm) / 6.0, 0.0, 1.0)
    blend = blend * blend * (3.0 - 2.0 * blend)
    depth_mm = (1.0 - blend) * _cord_axis_mm(patient, scene, box.u_mm) + blend * rest_mm
    on_strand = np.abs(box.d_mm - depth_mm) < strand.thickness_mm / 2
    region = inside & (box.u_mm >= start_mm) & on_strand
    canvas.paint(box, region, tissue.ROOT, structure_label("cauda_equina"))


def _paint_cord(canvas: TissueCanvas, box: Box, patient: Patient, scene: LongAxisScene) -> None:
    """Hypoechoic tube with bright pial borders and a bright central line, tapering to the conus."""
    offset = np.abs(box.d_mm - _cord_axis_mm(patient, scene, box.u_mm))
    radius = _cord_radius_mm(patient, scene, box.u_mm)
    label = structure_label("cord")
    cord = offset < radius
    canvas.paint(box, cord, tissue.PIA, label)
    canvas.paint(box, cord & (offset < radius - 0.22), tissue.CORD, label)
    central = cord & (offset < 0.12) & (box.u_mm < scene.conus_tip_mm - 0.3 * scene.conus_taper_mm)
    canvas.paint(box, central, tissue.CENTRAL_ECHO, label)


def _paint_anterior_complex(canvas: TissueCanvas, patient: Patient, scene: LongAxisScene) -> None:
    """Anterior dura, then bright vertebral bodies alternating with darker discs."""
    box = canvas.box(-np.inf, np.inf, patient.skin_to_csf_mm + patient.canal_ap_mm - 6.0, np.inf)
    floor_mm = _csf_top(patient, scene, box.u_mm) + patient.canal_ap_mm
    top_mm = floor_mm + _ANTERIOR_DURA_MM
    canvas.paint(box, (box.d_mm >= floor_mm) & (box.d_mm < top_mm), tissue.DURA)
    canvas.paint(box, (box.d_mm >= top_mm) & (box.d_mm < top_mm + _BODY_THICKNESS_MM), tissue.DISC)
    canvas.paint(box, box.d_mm >= top_mm + _BODY_THICKNESS_MM, tissue.SOFT)
    segment_mm = patient.segment_mm
    steps = np.ceil((scene.body_phase_mm - canvas.u0_mm) / segment_mm) + 1
    first_mm = scene.body_phase_mm - steps * segment_mm
    for centre_mm in np.arange(first_mm, canvas.u1_mm + segment_mm, segment_mm):
        _paint_body(canvas, patient, scene, float(centre_mm))


def _paint_body(
    canvas: TissueCanvas, patient: Patient, scene: LongAxisScene, centre_mm: float
) -> None:
    """A rounded-rectangle body whose posterior surface is a bright line; bone shadows."""
    half_len = 0.5 * scene.body_fraction * patient.segment_mm
    half_h = 0.5 * _BODY_THICKNESS_MM
    floor_mm = patient.skin_to_csf_mm + patient.canal_ap_mm + _ANTERIOR_DURA_MM
    box = canvas.box(centre_mm - half_len, centre_mm + half_len, floor_mm - 4.0, floor_mm + 14.0)
    top_mm = _csf_top(patient, scene, box.u_mm) + patient.canal_ap_mm + _ANTERIOR_DURA_MM
    du = np.clip(np.abs(box.u_mm - centre_mm) / half_len, 0.0, 1.0)
    dd = (box.d_mm - top_mm - half_h) / half_h
    body = (du < 1.0) & (du**6 + dd**6 <= 1.0)
    label = structure_label("vertebral_body")
    canvas.paint(box, body, tissue.BODY, label, canvas.texture(box, "lobules", 0.3), bone=True)
    surface = body & (box.d_mm - top_mm < 0.45) & (du < 0.92)
    canvas.paint(box, surface, tissue.BODY_SURFACE, label, bone=True)
