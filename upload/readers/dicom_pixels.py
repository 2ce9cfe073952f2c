"""Decoded DICOM pixel values to uint8 frames, the same mapping for every frame of a clip.

Palette colour goes through its lookup tables to RGB. Monochrome data wider than 8 bits goes
through its VOI window (Window Center/Width) when one is declared; otherwise, and for RGB, the
stored bit range (Bits Stored, signed or not) is stretched to 0-255. MONOCHROME1 is inverted so
that higher is brighter.
"""

from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut

MONOCHROME = frozenset({"MONOCHROME1", "MONOCHROME2"})
PHOTOMETRIC_INTERPRETATIONS = MONOCHROME | {
    "PALETTE COLOR",
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_RCT",
    "YBR_ICT",
}
"""Those read; pydicom returns the YBR ones as RGB."""


@dataclass(frozen=True)
class PixelScaling:
    """The mapping from one clip's decoded values to uint8."""

    photometric: str
    bits_stored: int
    signed: bool
    window: tuple[float, float] | None = None
    """(center, width) in modality units, applied to monochrome data wider than 8 bits."""
    rescale: tuple[float, float] = (1.0, 0.0)
    """(slope, intercept) from stored values to modality units."""
    palette: pydicom.Dataset | None = None
    """The image pixel elements holding the palette lookup tables, for PALETTE COLOR."""
    palette_divisor: float = 257.0
    """From palette output to 0-255: 257 for 16-bit entries, 1 for 8-bit entries, including
    the 8-bit values that some files store in tables declared 16 bits deep."""

    def to_uint8(self, raw: np.ndarray) -> np.ndarray:
        """(H, W) or (H, W, 3) integer values to uint8 of the same shape; palette to (H, W, 3).

        Raises ValueError for floating-point pixel data, which has no stored bit range.
        """
        if raw.dtype.kind not in "ui":
            raise ValueError(f"{raw.dtype} pixel data is not supported")
        if self.palette is not None:
            rgb = apply_color_lut(raw, self.palette).astype(np.float64) / self.palette_divisor
            return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        if self.window is not None and raw.ndim == 2 and self.bits_stored > 8:
            pixels = self._windowed(raw)
        else:
            pixels = self._bit_range_scaled(raw)
        return 255 - pixels if self.photometric == "MONOCHROME1" else pixels

    def _windowed(self, raw: np.ndarray) -> np.ndarray:
        """The DICOM linear VOI function (PS3.3 C.11.2.1.2) with output range 0-255."""
        center, width = self.window
        slope, intercept = self.rescale
        values = raw.astype(np.float64) * slope + intercept
        scaled = ((values - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)

    def _bit_range_scaled(self, raw: np.ndarray) -> np.ndarray:
        if raw.dtype == np.uint8 and self.bits_stored == 8:
            return raw
        lowest = -(2 ** (self.bits_stored - 1)) if self.signed else 0
        scaled = (raw.astype(np.float64) - lowest) * (255.0 / (2**self.bits_stored - 1))
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def pixel_scaling(dataset: pydicom.Dataset) -> PixelScaling:
    """The clip's mapping, from its image pixel module; raises ValueError for what is not read."""
    photometric = str(dataset.get("PhotometricInterpretation", "")).strip().upper()
    if photometric not in PHOTOMETRIC_INTERPRETATIONS:
        raise ValueError(f"photometric interpretation {photometric or 'missing'!r} is not read")
    bits_allocated = int(dataset.get("BitsAllocated") or 8)
    bits_stored = int(dataset.get("BitsStored") or bits_allocated)
    if not 1 <= bits_stored <= 32:
        raise ValueError(f"Bits Stored {bits_stored} is outside 1-32")
    palette = _palette(dataset) if photometric == "PALETTE COLOR" else None
    return PixelScaling(
        photometric=photometric,
        bits_stored=bits_stored,
        signed=int(dataset.get("PixelRepresentation") or 0) == 1,
        window=_window(dataset) if photometric in MONOCHROME else None,
        rescale=_rescale(dataset),
        palette=palette,
        palette_divisor=_palette_divisor(palette, bits_allocated) if palette else 257.0,
    )


def _window(dataset: pydicom.Dataset) -> tuple[float, float] | None:
    """The first declared (center, width); None when absent, unreadable or narrower than 2."""
    center, width = dataset.get("WindowCenter"), dataset.get("WindowWidth")
    try:
        center, width = float(_first(center)), float(_first(width))
    except (TypeError, ValueError):
        return None
    return (center, width) if width >= 2.0 and np.isfinite(center) else None


def _rescale(dataset: pydicom.Dataset) -> tuple[float, float]:
    try:
        slope = float(_first(dataset.get("RescaleSlope", 1.0)))
        intercept = float(_first(dataset.get("RescaleIntercept", 0.0)))
    except (TypeError, ValueError):
        return (1.0, 0.0)
    return (slope, intercept) if np.isfinite(slope) and np.isfinite(intercept) else (1.0, 0.0)


def _first(value: object) -> object:
    if isinstance(value, pydicom.multival.MultiValue):
        return value[0] if len(value) else None
    return value


def _palette(dataset: pydicom.Dataset) -> pydicom.Dataset:
    """Only group 0028 (image pixel module), so no identifying element is kept."""
    palette = pydicom.Dataset()
    for element in dataset.group_dataset(0x0028):
        palette.add(element)
    if "RedPaletteColorLookupTableDescriptor" not in palette:
        raise ValueError("PALETTE COLOR without its lookup tables")
    syntax = getattr(dataset, "file_meta", pydicom.Dataset()).get("TransferSyntaxUID")
    if syntax is not None:
        palette.file_meta = pydicom.dataset.FileMetaDataset()
        palette.file_meta.TransferSyntaxUID = syntax
    else:
        palette.set_original_encoding(*dataset.original_encoding[:2])
    return palette


def _palette_divisor(palette: pydicom.Dataset, bits_allocated: int) -> float:
    """1 when every table entry fits in 8 bits, 257 otherwise."""
    indices = np.arange(
        2 ** min(bits_allocated, 16), dtype=np.uint16 if bits_allocated > 8 else np.uint8
    )
    largest = int(apply_color_lut(indices, palette).max())
    return 1.0 if largest <= 255 else 257.0
