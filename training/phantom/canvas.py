"""A tissue map in body millimetres: acoustic properties and structure labels per body pixel."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from label_config.schema import STRUCTURES

BONE_FLAG = 0x80
"""Set in a label value where the tissue is ossified bone (it casts an acoustic shadow)."""


def structure_label(key: str) -> int:
    """Label value of structure ``key`` in a tissue map: 1 + its channel index in STRUCTURES."""
    keys = [structure.key for structure in STRUCTURES]
    if key not in keys:
        raise KeyError(f"structure {key!r} is missing from label_config.schema; it has {keys}")
    return keys.index(key) + 1


@dataclass(frozen=True)
class Tissue:
    """Acoustic properties of one tissue.

    ``diffuse`` is the amplitude of its speckle relative to soft tissue (1.0); ``specular`` the
    amplitude of a coherent, mirror-like echo (interfaces); ``attenuation_per_mm`` the round-trip
    amplitude loss in neper per mm (soft tissue about 0.09 at 10 MHz).
    """

    diffuse: float
    specular: float = 0.0
    attenuation_per_mm: float = 0.09


FAT = Tissue(0.8, 0.0, 0.08)
SOFT = Tissue(1.0, 0.0, 0.09)
MUSCLE = Tissue(0.55, 0.0, 0.1)
FASCIA = Tissue(1.6, 1.4, 0.1)
CARTILAGE = Tissue(0.22, 0.0, 0.11)
PERICHONDRIUM = Tissue(0.55, 0.25, 0.11)
BONE_SURFACE = Tissue(2.5, 7.0, 3.0)
BONE = Tissue(0.5, 0.0, 3.0)
LIGAMENTUM_FLAVUM = Tissue(2.2, 3.5, 0.12)
EPIDURAL = Tissue(0.7, 0.0, 0.09)
DURA = Tissue(2.0, 3.0, 0.1)
CSF = Tissue(0.035, 0.0, 0.003)
CORD = Tissue(0.22, 0.0, 0.05)
PIA = Tissue(1.5, 1.3, 0.05)
CENTRAL_ECHO = Tissue(1.3, 1.0, 0.05)
ROOT = Tissue(1.6, 1.2, 0.05)
BODY_SURFACE = Tissue(2.5, 5.5, 1.5)
BODY = Tissue(0.7, 0.0, 1.2)
DISC = Tissue(0.3, 0.0, 0.2)


@dataclass(frozen=True)
class Box:
    """A rectangular window of the canvas with the body coordinates of its pixels."""

    rows: slice
    cols: slice
    u_mm: np.ndarray
    """(1, w) lateral coordinate of each column."""
    d_mm: np.ndarray
    """(h, 1) depth of each row."""


class TissueCanvas:
    """Acoustic properties and labels on a regular grid in body millimetres.

    ``properties`` is (Hb, Wb, 3) float32: diffuse amplitude, specular amplitude, attenuation
    (Np/mm). ``labels`` is (Hb, Wb) uint8: 0 where no structure, else ``structure_label``, with
    ``BONE_FLAG`` or-ed in on ossified bone. Pixel (i, j) lies at u = u0 + j * mm_per_px,
    d = d0 + i * mm_per_px. ``lobules`` and ``fibres`` are unit-variance smooth textures.
    """

    def __init__(
        self,
        u_range_mm: tuple[float, float],
        d_range_mm: tuple[float, float],
        mm_per_px: float,
        rng: np.random.Generator,
    ):
        self.u0_mm, self.d0_mm = u_range_mm[0], d_range_mm[0]
        self.mm_per_px = mm_per_px
        self.u1_mm, self.d1_mm = u_range_mm[1], d_range_mm[1]
        cols = int(np.ceil((u_range_mm[1] - u_range_mm[0]) / mm_per_px)) + 1
        rows = int(np.ceil((d_range_mm[1] - d_range_mm[0]) / mm_per_px)) + 1
        self.properties = np.zeros((rows, cols, 3), np.float32)
        self.labels = np.zeros((rows, cols), np.uint8)
        self.lobules = smooth_noise(rng, (rows, cols), (1.0 / mm_per_px, 1.4 / mm_per_px))
        self.fibres = smooth_noise(rng, (rows, cols), (0.12 / mm_per_px, 2.5 / mm_per_px))

    def box(self, u_lo: float, u_hi: float, d_lo: float, d_hi: float) -> Box:
        """Pixels with u in [u_lo, u_hi] and d in [d_lo, d_hi], clipped to the canvas."""
        rows, cols = self.labels.shape
        j0, j1 = self._index_span(u_lo, u_hi, self.u0_mm, cols)
        i0, i1 = self._index_span(d_lo, d_hi, self.d0_mm, rows)
        u_mm = self.u0_mm + np.arange(j0, j1)[None, :] * self.mm_per_px
        d_mm = self.d0_mm + np.arange(i0, i1)[:, None] * self.mm_per_px
        return Box(slice(i0, i1), slice(j0, j1), u_mm, d_mm)

    def whole(self) -> Box:
        """Every pixel of the canvas."""
        return self.box(-np.inf, np.inf, -np.inf, np.inf)

    def _index_span(self, lo: float, hi: float, origin: float, size: int) -> tuple[int, int]:
        start = int(np.floor((max(lo, origin - 1.0) - origin) / self.mm_per_px))
        stop = int(np.ceil((min(hi, origin + size * self.mm_per_px) - origin) / self.mm_per_px))
        start, stop = max(0, start), min(size, stop + 1)
        return start, max(start, stop)

    def paint(
        self,
        box: Box,
        region: np.ndarray,
        tissue: Tissue,
        label: int = 0,
        texture: np.ndarray | None = None,
        bone: bool = False,
    ) -> None:
        """Set ``tissue`` and ``label`` on ``region`` ((h, w) bool) of ``box``.

        ``texture`` multiplies the diffuse amplitude (broadcastable to (h, w)).
        """
        region = np.broadcast_to(region, (box.d_mm.shape[0], box.u_mm.shape[1]))
        props = self.properties[box.rows, box.cols]
        diffuse = tissue.diffuse if texture is None else tissue.diffuse * texture
        props[..., 0][region] = np.broadcast_to(diffuse, region.shape)[region]
        props[..., 1][region] = tissue.specular
        props[..., 2][region] = tissue.attenuation_per_mm
        self.labels[box.rows, box.cols][region] = label | (BONE_FLAG if bone else 0)

    def relabel(self, box: Box, region: np.ndarray, label: int) -> None:
        """Change the label of ``region`` of ``box`` without touching its tissue."""
        self.labels[box.rows, box.cols][region] = label

    def texture(self, box: Box, name: str, strength: float) -> np.ndarray:
        """exp(strength * field) of texture ``name`` ("lobules" or "fibres") over ``box``."""
        field = getattr(self, name)[box.rows, box.cols]
        return np.exp(strength * field)


def smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], correlation_px: tuple[float, float]
) -> np.ndarray:
    """Unit-variance Gaussian noise of ``shape`` correlated over (rows, cols) pixels, float32."""
    low_rows = int(np.ceil(shape[0] / correlation_px[0])) + 2
    low_cols = int(np.ceil(shape[1] / correlation_px[1])) + 2
    low = rng.standard_normal((low_rows, low_cols)).astype(np.float32)
    field = cv2.resize(low, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return (field - field.mean()) / max(float(field.std()), 1e-6)
