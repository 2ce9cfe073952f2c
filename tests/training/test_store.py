"""Model versions on disk: a saved version reloads and predicts exactly as the trained one."""

import json

import numpy as np
import torch

from tests.phantom_annotations import TINY_SPEC, _rendered
from training.loop import FitConfig, fit
from training.model import build_network
from training.phantom_dataset import phantom_clip_samples, stack
from training.store import ModelStore, SegmentationModel


def test_a_saved_model_reloads_and_predicts_identically(tmp_path):
    torch.manual_seed(0)
    network = build_network(TINY_SPEC)
    samples = stack([phantom_clip_samples(seed, 4, TINY_SPEC) for seed in (0, 1)])
    fit(network, samples, None, FitConfig(epochs=1, batch_size=4), TINY_SPEC.structures)
    network.eval()
    store = ModelStore(tmp_path)
    version = store.save(network, TINY_SPEC, {"trained_on": "test"})
    in_memory = SegmentationModel(version, TINY_SPEC, network, {})
    frame = _rendered(1, 5)[0]

    reloaded = store.load(version)

    expected = in_memory.predict_probabilities(frame)
    assert np.array_equal(reloaded.predict_probabilities(frame), expected)
    assert expected.std() > 0, "a model that predicts a constant proves nothing here"
    assert reloaded.spec == TINY_SPEC


def test_a_version_carries_labels_data_format_and_library_versions(tmp_path):
    store = ModelStore(tmp_path)
    version = store.save(build_network(TINY_SPEC), TINY_SPEC, {"data": {"source": "x"}})

    described = json.loads((tmp_path / version / "model.json").read_text())

    assert [described["labels"][str(i)]["key"] for i in range(len(TINY_SPEC.structures))] == list(
        TINY_SPEC.structures
    )
    image = described["network_data_format"]["inputs"]["image"]
    assert image["spatial_shape"] == [TINY_SPEC.input_size] * 2 and image["num_channels"] == 1
    assert set(described["libraries"]) >= {"torch", "monai", "numpy", "python"}
    assert described["data"] == {"source": "x"}
