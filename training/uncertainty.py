"""How unsure the segmentation model is on a frame: Monte Carlo dropout and mutual information.

The network is run ``T`` times on the same frame with its dropout layers active (every other
layer as in evaluation) and a seeded mask generator, so that the same frame always gets the same
samples. Per pixel and structure, the mutual information between the prediction and the dropout
mask (BALD) is the epistemic part of the predictive entropy: zero when every pass agrees, up to
1 bit when the passes split into confident opposite answers.
"""

import copy

import numpy as np
import torch

from training.model import Letterbox, normalise_frame
from training.store import SegmentationModel

DEFAULT_PASSES = 8
DEFAULT_SEED = 0
UNSURE_ENTROPY_BITS = 0.5
"""A pixel counts as unsure when some structure's mean probability has at least this entropy,
i.e. lies between about 0.11 and 0.89."""


class SeededDropout(torch.nn.Module):
    """Element-wise dropout that is always on and draws its masks from ``generator``.

    Unlike ``torch.nn.Dropout`` it never touches the global random state, so concurrent
    predictions neither disturb nor depend on each other.
    """

    def __init__(self, probability: float, generator: torch.Generator):
        super().__init__()
        self.probability = probability
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = torch.rand(x.shape, generator=self.generator, dtype=x.dtype) >= self.probability
        return x * keep / (1.0 - self.probability)


def mc_dropout_network(network: torch.nn.Module, seed: int = DEFAULT_SEED) -> torch.nn.Module:
    """A copy of ``network`` in eval mode whose dropout layers stay active, seeded by ``seed``.

    The served network is left untouched. Dropout layers with probability 0 stay identities.
    """
    sampler = copy.deepcopy(network).eval()
    generator = torch.Generator().manual_seed(seed)
    for name, module in list(sampler.named_modules()):
        if isinstance(module, torch.nn.Dropout) and module.p > 0:
            parent_name, _, child = name.rpartition(".")
            parent = sampler.get_submodule(parent_name) if parent_name else sampler
            setattr(parent, child, SeededDropout(module.p, generator))
    return sampler


@torch.inference_mode()
def mc_dropout_probabilities(
    model: SegmentationModel,
    gray: np.ndarray,
    passes: int = DEFAULT_PASSES,
    channels: list[int] | None = None,
    seed: int = DEFAULT_SEED,
) -> np.ndarray:
    """(H, W) uint8 frame -> (T, C, h, w) float32 probabilities from ``T = passes`` dropout passes.

    The maps stay on the network's grid: the frame resized, aspect kept, so that its longest
    side is ``model.spec.input_size`` px, (h, w) = ``Letterbox.scaled_hw``; an uncertainty
    score needs no finer grid, and the frame's own would cost (H * W) / (h * w) times more.
    ``channels`` picks the output channels (structure positions in ``model.spec.structures``),
    all of them when None. The passes run as one batch; same frame and seed, same samples.
    """
    if passes < 1:
        raise ValueError(f"Monte Carlo dropout needs at least 1 pass, got {passes}")
    sampler = mc_dropout_network(model.network, seed)
    letterbox = Letterbox(gray.shape[0], gray.shape[1], model.spec.input_size)
    frame = letterbox.to_input(normalise_frame(gray))
    logits = sampler(frame[None].expand(passes, -1, -1, -1).contiguous())
    if channels is not None:
        logits = logits[:, channels]
    return torch.sigmoid(_inner(letterbox, logits)).numpy()


def on_network_grid(frame_map: np.ndarray, input_size: int) -> np.ndarray:
    """(H, W) map on a frame -> (h, w) float32 map on the grid of ``mc_dropout_probabilities``,
    nearest-neighbour resampled (a 0/1 map stays 0/1)."""
    letterbox = Letterbox(frame_map.shape[0], frame_map.shape[1], input_size)
    padded = letterbox.to_input(torch.from_numpy(np.float32(frame_map))[None], mode="nearest")
    return _inner(letterbox, padded[None])[0, 0].numpy()


def _inner(letterbox: Letterbox, maps: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) padded network maps -> (N, C, h, w), the part that covers the frame."""
    top = (letterbox.input_size - letterbox.scaled_hw[0]) // 2
    left = (letterbox.input_size - letterbox.scaled_hw[1]) // 2
    return maps[:, :, top : top + letterbox.scaled_hw[0], left : left + letterbox.scaled_hw[1]]


def binary_entropy_bits(probabilities: np.ndarray) -> np.ndarray:
    """Entropy of Bernoulli(p), element-wise, in bits: 0 at p = 0 or 1, 1 at p = 0.5."""
    p = np.clip(np.asarray(probabilities, np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = -(p * np.log2(p) + (1.0 - p) * np.log2(1.0 - p))
    return np.nan_to_num(terms, nan=0.0)


def mutual_information_bits(samples: np.ndarray) -> np.ndarray:
    """(T, ...) sampled probabilities -> (...) mutual information in bits, in [0, 1].

    H(mean_t p_t) - mean_t H(p_t): the predictive entropy less the expected entropy of a pass.
    """
    total = binary_entropy_bits(samples.astype(np.float64).mean(axis=0))
    expected = binary_entropy_bits(samples).mean(axis=0)
    return np.clip(total - expected, 0.0, 1.0)


def uncertainty_score(samples: np.ndarray, threshold: float = 0.5) -> float:
    """(T, S, H, W) sampled probabilities of a frame's S structures -> certainty in [0, 1].

    With p̄ the mean over passes and MI the mutual information (bits) per structure and pixel:
    u(x) = max_s MI_s(x); the region R holds the pixels where some structure is predicted
    (p̄_s > ``threshold``) or unsure (H(p̄_s) >= ``UNSURE_ENTROPY_BITS``); the score is
    1 - mean_{x in R} u(x), with R the whole frame when no pixel qualifies. 1 means every pass
    agrees (always so without dropout, or with a single pass); lower means less certain.
    """
    mean = samples.astype(np.float64).mean(axis=0)
    per_pixel = mutual_information_bits(samples).max(axis=0)
    region = (mean > threshold).any(axis=0)
    region |= (binary_entropy_bits(mean) >= UNSURE_ENTROPY_BITS).any(axis=0)
    if not region.any():
        region = np.ones_like(region)
    return float(1.0 - per_pixel[region].mean())


def confidence_score(probabilities: np.ndarray) -> float:
    """(S, H, W) probabilities -> mean per-pixel confidence max(p, 1 - p), in [0.5, 1]."""
    return float(np.maximum(probabilities, 1.0 - probabilities).mean())
