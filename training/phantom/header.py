"""The static part of every frame: burned-in text band, depth ruler and focus marker."""

from __future__ import annotations

import cv2
import numpy as np

from training.phantom.acquisition import ImagingGeometry, ScannerSettings
from training.phantom.identity import FakeIdentity

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TEXT_GREY = 225
_RULER_GREY = 170


def draw_overlay(
    shape: tuple[int, int],
    geometry: ImagingGeometry,
    identity: FakeIdentity,
    scanner: ScannerSettings,
    view: str,
) -> np.ndarray:
    """(H, W) uint8 frame with the header text and ruler drawn and a black imaging region."""
    overlay = np.zeros(shape, np.uint8)
    study = f"{identity.study_date[:4]}-{identity.study_date[4:6]}-{identity.study_date[6:]}"
    depth_cm = geometry.shape[0] * geometry.spacing_mm_per_px / 10
    lines = (
        f"{identity.patient_name}  ID {identity.patient_id}  DOB {identity.birth_date}",
        f"{identity.institution}  {study}",
        f"L-SPINE {view.replace('_', ' ').upper()}  L12-5  {scanner.frequency_mhz:.0f}MHz  "
        f"D {depth_cm:.1f}cm  G {round(scanner.gain_db):+d}dB",
    )
    for row, text in enumerate(lines):
        _put_fitted(overlay, text, 11 + 12 * row)
    _draw_ruler(overlay, geometry)
    _draw_focus(overlay, geometry, scanner.focus_depth_mm)
    return overlay


def _put_fitted(
    overlay: np.ndarray, text: str, baseline_px: int, x_px: int = 6, scale: float = 0.4
) -> None:
    """Write ``text`` at ``baseline_px``, shrinking the font until it fits the width."""
    width_px = overlay.shape[1] - x_px - 4
    while scale > 0.25 and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > width_px:
        scale -= 0.02
    for index, part in enumerate(text.split("^")):
        if index:
            x_px = _draw_caret(overlay, x_px, baseline_px, scale)
        cv2.putText(overlay, part, (x_px, baseline_px), _FONT, scale, _TEXT_GREY, 1, cv2.LINE_AA)
        x_px += cv2.getTextSize(part, _FONT, scale, 1)[0][0]


def _draw_caret(overlay: np.ndarray, x_px: int, baseline_px: int, scale: float) -> int:
    """Draw '^' (the Hershey font has no caret glyph); return the x after it."""
    glyph_w, glyph_h = cv2.getTextSize("^", _FONT, scale, 1)[0]
    top = baseline_px - int(round(1.0 * glyph_h))
    points = np.array(
        [
            [x_px + 1, top + glyph_h // 2],
            [x_px + glyph_w // 2, top],
            [x_px + glyph_w - 1, top + glyph_h // 2],
        ],
        np.int32,
    )
    cv2.polylines(overlay, [points], False, _TEXT_GREY, 1, cv2.LINE_AA)
    return x_px + glyph_w


def _draw_ruler(overlay: np.ndarray, geometry: ImagingGeometry) -> None:
    """Depth scale right of the image: ticks every 5 mm, labels in cm."""
    _, y0, x1, y1 = geometry.region
    spacing = geometry.spacing_mm_per_px
    x_px = x1 + 6
    cv2.line(overlay, (x_px, y0), (x_px, y1 - 1), _RULER_GREY, 1)
    depth_mm = (y1 - y0) * spacing
    for tick_mm in np.arange(0.0, depth_mm + 1e-6, 5.0):
        y_px = y0 + int(round(tick_mm / spacing))
        major = int(round(tick_mm)) % 10 == 0
        cv2.line(overlay, (x_px, y_px), (x_px + (7 if major else 4), y_px), _RULER_GREY, 1)
        if major and tick_mm > 0:
            label = f"{tick_mm / 10:.0f}"
            cv2.putText(
                overlay, label, (x_px + 10, y_px + 4), _FONT, 0.35, _RULER_GREY, 1, cv2.LINE_AA
            )
    cv2.putText(
        overlay,
        "cm",
        (x_px + 4, min(y1 + 2, overlay.shape[0] - 2)),
        _FONT,
        0.3,
        _RULER_GREY,
        1,
        cv2.LINE_AA,
    )


def _draw_focus(overlay: np.ndarray, geometry: ImagingGeometry, focus_mm: float) -> None:
    """A small triangle pointing at the focal depth, left of the ruler."""
    x1, y0 = geometry.region[2], geometry.region[1]
    y_px = y0 + int(round(focus_mm / geometry.spacing_mm_per_px))
    triangle = np.array([[x1 + 1, y_px], [x1 + 5, y_px - 3], [x1 + 5, y_px + 3]], np.int32)
    cv2.fillPoly(overlay, [triangle], _RULER_GREY)
