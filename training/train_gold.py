"""Training a segmentation model from scratch on a gold-standard export, split by clip or infant.

The split file decides each clip's side the first time the clip is seen; the test side is never
loaded here, so the hold-out clips stay unseen by training and by the choice of epoch.
"""

import hashlib
from dataclasses import asdict
from pathlib import Path

from monai.utils import set_determinism

from training.annotation_dataset import build_samples
from training.gold_dataset import GoldStandardFrame, ImageLoader, clip_refs
from training.loop import Distributed, FitConfig
from training.model import ModelSpec
from training.splits import SplitFile
from training.store import ModelStore
from training.train import train_and_save


def train_on_gold_standard(
    store: ModelStore,
    frames: list[GoldStandardFrame],
    split_file: SplitFile,
    load_image: ImageLoader,
    config: FitConfig,
    spec: ModelSpec,
    distributed: Distributed | None = None,
    export_folder: Path | None = None,
) -> str | None:
    """Trains, saves a version and returns its name (None off process 0)."""
    set_determinism(seed=config.seed)
    split = split_file.assign(clip_refs(frames))
    sides = {
        side: [f.as_annotated() for f in frames if f.clip_id in getattr(split, side)]
        for side in ("training", "validation")
    }
    samples = {side: build_samples(found, load_image, spec) for side, found in sides.items()}
    data = {
        "source": "gold standard",
        "export": str(export_folder) if export_folder else None,
        "split_file": str(split_file.path),
        "split_sha256": hashlib.sha256(split_file.path.read_bytes()).hexdigest(),
        "training": samples["training"].snapshot(),
        "validation": samples["validation"].snapshot(),
        "test_clips_left_out": sorted(split.test),
    }
    return train_and_save(
        store,
        spec,
        (samples["training"].images, samples["training"].masks),
        (samples["validation"].images, samples["validation"].masks),
        config,
        distributed,
        "gold standard",
        data,
        asdict(config),
    )
