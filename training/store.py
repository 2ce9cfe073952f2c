"""Model versions on disk: one folder per version (weights and metadata) and a champion pointer.

Layout under the store root::

    v0001/model.pt      state dict of the network
    v0001/model.json    spec, labels, input and output format, data snapshot, metrics,
                        training history, library versions
    champion            the version that serves predictions, as text
"""

import json
import os
import platform
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import monai
import numpy as np
import torch

from label_config import STRUCTURES
from training.model import Letterbox, ModelSpec, build_network, normalise_frame

VERSION_PATTERN = re.compile(r"^v\d{4}$")


class ModelNotFound(LookupError):
    """No model version, or no champion, in the store."""


@dataclass
class SegmentationModel:
    """A loaded model version, ready to predict; the network is in eval mode."""

    version: str
    spec: ModelSpec
    network: torch.nn.Module
    metadata: dict

    @torch.inference_mode()
    def predict_probabilities(self, gray: np.ndarray) -> np.ndarray:
        """(H, W) uint8 frame -> (S, H, W) float32 probabilities, one channel per structure."""
        letterbox = Letterbox(gray.shape[0], gray.shape[1], self.spec.input_size)
        batch = letterbox.to_input(normalise_frame(gray))[None]
        logits = self.network(batch)
        return torch.sigmoid(letterbox.to_frame(logits))[0].numpy()


class ModelStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if VERSION_PATTERN.match(p.name))

    def champion(self) -> str | None:
        pointer = self.root / "champion"
        return pointer.read_text().strip() if pointer.is_file() else None

    def save(self, network: torch.nn.Module, spec: ModelSpec, metadata: dict) -> str:
        """Write a new version atomically and return its name; the champion is unchanged."""
        self.root.mkdir(parents=True, exist_ok=True)
        version = f"v{len(self.versions()) + 1:04d}"
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        torch.save(network.state_dict(), staging / "model.pt")
        described = {"version": version, "spec": spec.to_json(), **metadata}
        described["libraries"] = _library_versions()
        described["labels"] = _labels(spec)
        described["network_data_format"] = _data_format(spec)
        (staging / "model.json").write_text(json.dumps(described, indent=2, sort_keys=True))
        os.replace(staging, self.root / version)
        return version

    def promote(self, version: str) -> None:
        if version not in self.versions():
            raise ModelNotFound(f"no model version {version!r} in {self.root}")
        partial = self.root / "champion.partial"
        partial.write_text(version + "\n")
        os.replace(partial, self.root / "champion")

    def load(self, version: str) -> SegmentationModel:
        folder = self.root / version
        if not (folder / "model.pt").is_file():
            raise ModelNotFound(f"no model version {version!r} in {self.root}")
        metadata = json.loads((folder / "model.json").read_text())
        spec = ModelSpec.from_json(metadata["spec"])
        network = build_network(spec)
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        network.load_state_dict(state)
        network.eval()
        return SegmentationModel(version, spec, network, metadata)

    def load_champion(self) -> SegmentationModel:
        version = self.champion()
        if version is None:
            raise ModelNotFound(f"no champion model in {self.root}: train one first")
        return self.load(version)


def _labels(spec: ModelSpec) -> dict[str, dict]:
    """Output channel -> the structure it segments, as the label schema names it."""
    by_key = {s.key: s for s in STRUCTURES}
    return {
        str(channel): {"key": key, "label": by_key[key].label, "colour": by_key[key].colour}
        for channel, key in enumerate(spec.structures)
    }


def _data_format(spec: ModelSpec) -> dict:
    """What goes in and what comes out, in the terms of a MONAI bundle's metadata."""
    side = [spec.input_size, spec.input_size]
    return {
        "inputs": {
            "image": {
                "type": "image",
                "format": "magnitude",
                "modality": "US",
                "num_channels": 1,
                "spatial_shape": side,
                "dtype": "float32",
                "value_range": [0, 1],
                "preprocessing": "grey frame / 255, resized with its aspect kept so that the "
                "longest side is spatial_shape, centred and zero padded",
            }
        },
        "outputs": {
            "pred": {
                "type": "probabilities",
                "format": "segmentation",
                "num_channels": len(spec.structures),
                "spatial_shape": side,
                "dtype": "float32",
                "value_range": [0, 1],
                "activation": "sigmoid, one independent channel per structure",
                "channel_def": {str(i): key for i, key in enumerate(spec.structures)},
            }
        },
    }


def _library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "monai": monai.__version__,
        "numpy": np.__version__,
    }
