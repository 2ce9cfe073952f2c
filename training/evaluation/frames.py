"""Hold-out frames with the expert's masks and points, as the evaluation reads them."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from label_config.schema import LONG_AXIS, VIEWS, keypoints_for_view
from training.phantom import PhantomClip, generate_clip
from upload.imaging_region import ImagingRegion


@dataclass(frozen=True)
class EvaluationFrame:
    """One hold-out frame and its gold standard.

    ``image``: (H, W) uint8 as served (black outside the imaging region). ``truth``: (S, H, W)
    bool, channels in the model's ``spec.structures`` order; an empty channel means the expert
    judged the structure absent. ``truth_points``: keypoint key -> (x_px, y_px) in continuous
    pixel coordinates; a judged key that is absent here was judged not present.
    ``judged_points``: the keypoints the expert judged on this frame; None means every keypoint
    of the view. A keypoint outside it is left out of the evaluation (neither right nor wrong).
    """

    clip_id: str
    frame_index: int
    view: str
    spacing_mm_per_px: float | None
    image: np.ndarray
    truth: np.ndarray
    truth_points: dict[str, tuple[float, float]]
    judged_points: tuple[str, ...] | None = None

    def point_keys(self) -> tuple[str, ...]:
        """Keypoints scored on this frame: those of its view that the expert judged."""
        keys = tuple(k.key for k in keypoints_for_view(self.view))
        if self.judged_points is None:
            return keys
        return tuple(k for k in keys if k in self.judged_points)


def phantom_evaluation_frames(seeds: Sequence[int], frames_per_clip: int) -> list[EvaluationFrame]:
    """Evenly spaced frames of the phantom clips ``seeds``; even seeds long axis, odd short axis.

    The phantom's masks are the gold standard, channels in ``label_config.STRUCTURES`` order
    (the order of ``ModelSpec().structures``). The conus tip is the phantom's own tip position
    (not derived from the cord mask), present when it lies inside the imaging region; the
    phantom does not place a needle entry, so that point is not judged.
    """
    frames = []
    for seed in seeds:
        view = VIEWS[seed % 2]
        clip = generate_clip(seed, view)
        indices = np.linspace(0, len(clip) - 1, frames_per_clip).round().astype(int)
        frames.extend(_phantom_frame(clip, int(index)) for index in indices)
    return frames


def _phantom_frame(clip: PhantomClip, index: int) -> EvaluationFrame:
    rendered = clip.render(index)
    served = ImagingRegion(*clip.imaging_region).blank_outside(rendered.image)
    tip = true_conus_tip_px(clip, index) if clip.view == LONG_AXIS else None
    return EvaluationFrame(
        clip_id=f"phantom-{clip.seed}",
        frame_index=index,
        view=clip.view,
        spacing_mm_per_px=clip.spacing_mm_per_px,
        image=served,
        truth=rendered.masks > 0,
        truth_points={} if tip is None else {"conus_tip": tip},
        judged_points=("conus_tip",) if clip.view == LONG_AXIS else (),
    )


def true_conus_tip_px(clip: PhantomClip, index: int) -> tuple[float, float] | None:
    """Where a long-axis phantom's conus tip lies in frame ``index``, as (x_px, y_px), or None
    when it lies outside the imaging region.

    The tip sits at body position u = ``conus_tip_mm`` on the cord's axis; the probe pose of
    the frame (lateral shift, pressure, tilt about the probe face) maps it to the image, the
    inverse of ``training.phantom.render.body_affine``.
    """
    patient, scene = clip.patient, clip.scene
    u_mm = scene.conus_tip_mm
    depth_mm = (
        patient.skin_to_csf_mm
        + scene.canal_offset_mm(u_mm)
        + scene.cord_axis_frac * patient.canal_ap_mm
    )
    pose = clip.pose(index)
    cos_t, sin_t = math.cos(math.radians(pose.tilt_deg)), math.sin(math.radians(pose.tilt_deg))
    along_mm = cos_t * (u_mm - pose.lateral_mm) + sin_t * depth_mm
    below_face_mm = -sin_t * (u_mm - pose.lateral_mm) + cos_t * depth_mm - pose.depth_mm
    x0, y0, x1, y1 = clip.imaging_region
    spacing = clip.spacing_mm_per_px
    x_px = x0 + along_mm / spacing + (x1 - x0) / 2
    y_px = y0 + below_face_mm / spacing
    if not (x0 <= x_px < x1 and y0 <= y_px < y1):
        return None
    return float(x_px), float(y_px)
