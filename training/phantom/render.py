"""Per-frame image formation: probe pose, speckle, attenuation, time-gain and log compression.

The image of the imaging region is formed from a tissue canvas in body millimetres: the canvas is
resampled under the probe pose, its diffuse and specular echoes go through a Gaussian point-spread
function as a complex field, the envelope is attenuated along each (vertical) beam line, partly
restored by time-gain compensation and log-compressed to 8 bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from training.phantom.acquisition import ImagingGeometry, ProbePose, ScannerSettings
from training.phantom.canvas import TissueCanvas

_SKIN_MM = 0.7
_SKIN_LINE_MM = 0.3
NOISE_POOL_MARGIN_PX = 64
"""Extra rows and columns of the per-clip noise pool; each frame reads a random window of it."""


@dataclass(frozen=True)
class SamplingMaps:
    """What a frame samples from the canvas.

    ``properties``: (Hb, Wb, 3) float32 diffuse, specular, attenuation, sampled bilinearly.
    ``scatterers``: (Hb, Wb, 3) float32 complex scatterer amplitude (real, imaginary) fixed to
    the tissue, and the label value, sampled nearest-neighbour.
    """

    properties: np.ndarray
    scatterers: np.ndarray
    u0_mm: float
    d0_mm: float
    mm_per_px: float


@dataclass(frozen=True)
class RegionRaster:
    """The imaging region of one frame: (h, w) uint8 image and (h, w) uint8 label values."""

    image: np.ndarray
    labels: np.ndarray


def sampling_maps(canvas: TissueCanvas, rng: np.random.Generator) -> SamplingMaps:
    """Freeze a painted canvas and attach tissue-fixed complex Gaussian scatterers."""
    rows, cols = canvas.labels.shape
    scatterers = np.empty((rows, cols, 3), np.float32)
    scatterers[..., :2] = rng.standard_normal((rows, cols, 2), dtype=np.float32)
    scatterers[..., 2] = canvas.labels
    return SamplingMaps(canvas.properties, scatterers, canvas.u0_mm, canvas.d0_mm, canvas.mm_per_px)


def body_affine(maps: SamplingMaps, geometry: ImagingGeometry, pose: ProbePose) -> np.ndarray:
    """(2, 3) affine from region pixel (col, row) to canvas pixel (col, row) under ``pose``.

    The probe's lateral axis is tilted by ``pose.tilt_deg`` and shifted by ``pose.lateral_mm``;
    ``pose.depth_mm`` > 0 presses the probe in, moving anatomy up the image.
    """
    s, b = geometry.spacing_mm_per_px, maps.mm_per_px
    width_mm = geometry.shape[1] * s
    cos_t, sin_t = np.cos(np.deg2rad(pose.tilt_deg)), np.sin(np.deg2rad(pose.tilt_deg))
    x_mm, z_mm = 0.5 * s - width_mm / 2, 0.5 * s + pose.depth_mm
    u_mm = pose.lateral_mm + cos_t * x_mm - sin_t * z_mm
    d_mm = sin_t * x_mm + cos_t * z_mm
    return np.array(
        [
            [cos_t * s / b, -sin_t * s / b, (u_mm - maps.u0_mm) / b],
            [sin_t * s / b, cos_t * s / b, (d_mm - maps.d0_mm) / b],
        ]
    )


def render_region(
    maps: SamplingMaps,
    scanner: ScannerSettings,
    geometry: ImagingGeometry,
    pose: ProbePose,
    fresh: np.ndarray,
) -> RegionRaster:
    """Form the imaging region under ``pose``; ``fresh`` is (h, w, 2) new complex noise."""
    rows, cols = geometry.shape
    affine = body_affine(maps, geometry, pose)
    warp = cv2.WARP_INVERSE_MAP
    props = cv2.warpAffine(
        maps.properties,
        affine,
        (cols, rows),
        flags=cv2.INTER_LINEAR | warp,
        borderMode=cv2.BORDER_REPLICATE,
    )
    scatter = cv2.warpAffine(
        maps.scatterers,
        affine,
        (cols, rows),
        flags=cv2.INTER_NEAREST | warp,
        borderMode=cv2.BORDER_REPLICATE,
    )
    _add_skin(props, geometry.spacing_mm_per_px)
    sigmas = _psf_sigmas_px(scanner, geometry.spacing_mm_per_px)
    amplitude = _speckle(props, scatter, fresh, scanner, sigmas)
    envelope = amplitude * _transmission(props[..., 2], geometry.spacing_mm_per_px, sigmas[0])
    envelope *= _tgc(scanner, rows, geometry.spacing_mm_per_px)
    envelope += scanner.noise_floor * np.abs(fresh[..., 1])
    return RegionRaster(_log_compress(envelope, scanner), scatter[..., 2].astype(np.uint8))


def _add_skin(props: np.ndarray, spacing: float) -> None:
    """The skin conforms to the probe face, so it is drawn in probe coordinates."""
    props[: int(round(_SKIN_MM / spacing)), :, 0] = 1.2
    props[: max(1, int(round(_SKIN_LINE_MM / spacing))), :, 1] = 2.0


def _psf_sigmas_px(scanner: ScannerSettings, spacing: float) -> tuple[float, float]:
    """(lateral, axial) standard deviation of the Gaussian point-spread function, pixels."""
    wavelength_ratio = 10.0 / scanner.frequency_mhz
    return 0.2 * wavelength_ratio / spacing, 0.11 * wavelength_ratio / spacing


def _speckle(
    props: np.ndarray,
    scatter: np.ndarray,
    fresh: np.ndarray,
    scanner: ScannerSettings,
    sigmas: tuple[float, float],
) -> np.ndarray:
    """Envelope |PSF * (diffuse * scatterers + specular)|, (h, w) float32, soft tissue ~ 1."""
    keep, refresh = np.sqrt(1.0 - scanner.speckle_refresh), np.sqrt(scanner.speckle_refresh)
    field = scatter[..., :2] * np.float32(keep) + fresh * np.float32(refresh)
    field *= props[..., :1]
    sigma_lateral, sigma_axial = sigmas
    gain = _noise_gain(sigma_lateral, sigma_axial)
    field[..., 0] += props[..., 1] / gain
    blurred = cv2.GaussianBlur(field, (0, 0), sigmaX=sigma_lateral, sigmaY=sigma_axial)
    real, imag = cv2.split(blurred)
    intensity = cv2.GaussianBlur(real * real + imag * imag, (0, 0), sigmaX=0.7, sigmaY=0.5)
    return cv2.sqrt(intensity) * np.float32(gain)


def _noise_gain(sigma_x: float, sigma_y: float) -> float:
    """Factor restoring unit variance to white noise after the Gaussian blur."""
    kx = cv2.getGaussianKernel(2 * int(np.ceil(3 * sigma_x)) + 1, sigma_x)
    ky = cv2.getGaussianKernel(2 * int(np.ceil(3 * sigma_y)) + 1, sigma_y)
    return float(1.0 / np.sqrt(np.sum(kx**2) * np.sum(ky**2)))


def _transmission(attenuation: np.ndarray, spacing: float, sigma_lateral: float) -> np.ndarray:
    """Round-trip amplitude reaching each pixel, (h, w) float32 in (0, 1].

    Integrated down each beam line, then averaged over the beam width so shadows have soft edges.
    """
    depth_integral = np.cumsum(attenuation, axis=0, dtype=np.float32)
    depth_integral -= 0.5 * attenuation
    transmission = np.exp(-depth_integral * np.float32(spacing))
    return cv2.GaussianBlur(transmission, (0, 0), sigmaX=1.5 * sigma_lateral, sigmaY=0.5)


def _tgc(scanner: ScannerSettings, rows: int, spacing: float) -> np.ndarray:
    """(rows, 1) gain: imperfect exponential compensation plus slider ripple."""
    depth_mm = (np.arange(rows) + 0.5) * spacing
    knots_mm = np.linspace(0.0, rows * spacing, len(scanner.tgc_ripple_db))
    ripple_db = np.interp(depth_mm, knots_mm, scanner.tgc_ripple_db)
    gain = np.exp(scanner.tgc_per_mm * depth_mm) * 10.0 ** (ripple_db / 20.0)
    return gain.astype(np.float32)[:, None]


def _log_compress(envelope: np.ndarray, scanner: ScannerSettings) -> np.ndarray:
    """Map the envelope in dB onto 0-255 over the dynamic range; soft tissue sits mid-grey."""
    scale = 20.0 / np.log(10.0) / scanner.dynamic_range_db
    offset = 0.42 + scanner.gain_db / scanner.dynamic_range_db
    grey = cv2.log(np.maximum(envelope, np.float32(1e-6))) * np.float32(scale) + np.float32(offset)
    return (np.clip(grey, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
