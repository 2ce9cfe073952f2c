"""The segmentation model: a MONAI 2D U-Net with one sigmoid channel per structure.

Frames of any size are resized, aspect kept, so that the longest side is ``input_size`` px,
then padded to a square; predictions are mapped back to the frame's own size.
"""

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.nets import UNet
from monai.transforms import Resize, ScaleIntensityRange, SpatialPad
from monai.utils import convert_to_tensor

from label_config import STRUCTURES


@dataclass(frozen=True)
class ModelSpec:
    structures: tuple[str, ...] = tuple(s.key for s in STRUCTURES)
    input_size: int = 128
    channels: tuple[int, ...] = (16, 32, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2)
    dropout: float = 0.1

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: dict) -> "ModelSpec":
        tuples = {k: tuple(v) for k, v in fields.items() if isinstance(v, list)}
        return cls(**{**fields, **tuples})


NETWORK_SIZES = {
    "cpu": ModelSpec(),
    "gpu": ModelSpec(input_size=256, channels=(32, 64, 128, 256, 512), strides=(2, 2, 2, 2)),
}
"""Named network sizes: ``cpu`` (0.21 M weights) trains in minutes on two cores; ``gpu`` (3.4 M
weights, a fifth level, four times the pixels) is for a GPU node."""


def build_network(spec: ModelSpec) -> UNet:
    return UNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=len(spec.structures),
        channels=spec.channels,
        strides=spec.strides,
        num_res_units=1,
        dropout=spec.dropout,
    )


@dataclass(frozen=True)
class Letterbox:
    """How a (H, W) frame maps into the square network input, and back."""

    height_px: int
    width_px: int
    input_size: int
    scaled_hw: tuple[int, int] = field(init=False)

    def __post_init__(self) -> None:
        scale = self.input_size / max(self.height_px, self.width_px)
        scaled = (max(1, round(self.height_px * scale)), max(1, round(self.width_px * scale)))
        object.__setattr__(self, "scaled_hw", scaled)

    def to_input(self, image: torch.Tensor, mode: str = "area") -> torch.Tensor:
        """(C, H, W) -> (C, S, S), S = input_size; the image sits centred, zero padded."""
        resized = Resize(spatial_size=self.scaled_hw, mode=mode)(image)
        return SpatialPad(spatial_size=(self.input_size, self.input_size))(resized).as_tensor()

    def to_frame(self, maps: torch.Tensor) -> torch.Tensor:
        """(N, C, S, S) network maps -> (N, C, H, W) maps on the frame's own pixel grid."""
        top = (self.input_size - self.scaled_hw[0]) // 2
        left = (self.input_size - self.scaled_hw[1]) // 2
        inner = maps[:, :, top : top + self.scaled_hw[0], left : left + self.scaled_hw[1]]
        return F.interpolate(inner, size=(self.height_px, self.width_px), mode="bilinear")


_GREY_TO_UNIT = ScaleIntensityRange(a_min=0.0, a_max=255.0, b_min=0.0, b_max=1.0)


def normalise_frame(gray: np.ndarray) -> torch.Tensor:
    """(H, W) uint8 -> (1, H, W) float32 in [0, 1]: a fixed scale, not per-frame statistics, so
    that the gain a sonographer set stays visible to the network."""
    frame = torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32))[None]
    return convert_to_tensor(_GREY_TO_UNIT(frame), track_meta=False)
