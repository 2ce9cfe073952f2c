"""Shared fixtures: the real sample clips (read from ../shared, never copied) and a model store."""

from pathlib import Path

import pytest
import torch

from training.model import ModelSpec, build_network
from training.store import ModelStore

pytest_plugins = ["tests.s3_server"]

SHARED_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "real"


@pytest.fixture(scope="session")
def real_clips_dir() -> Path:
    if not SHARED_SAMPLES.is_dir():
        pytest.fail(f"the real sample clips are missing: expected them in {SHARED_SAMPLES}")
    return SHARED_SAMPLES


@pytest.fixture(scope="session")
def sonosite_dicom() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("color3d_jpeg_baseline.dcm"))


@pytest.fixture()
def untrained_store(tmp_path) -> ModelStore:
    """A store whose champion is a seeded, untrained network: deterministic, not useful."""
    torch.manual_seed(0)
    store = ModelStore(tmp_path / "models")
    spec = ModelSpec()
    store.promote(store.save(build_network(spec), spec, {"trained_on": "nothing"}))
    return store
