"""Training from a gold-standard export: the split file keeps test clips out, frames come from
the media root the export's image URLs name."""

import json

import cv2
import pytest
from typer.testing import CliRunner

from label_config import VIEWS
from tests.phantom_annotations import TINY_SPEC, _rendered
from training.annotations import FrameAnnotation
from training.evaluate import app as evaluate_app
from training.export import LabelledFrame, write_gold_standard
from training.gold_dataset import read_gold_standard
from training.loop import FitConfig
from training.sources import frame_loader
from training.splits import SplitFile
from training.store import ModelStore
from training.train_gold import train_on_gold_standard

SEEDS = range(6)
INDICES = (0, 10, 20)
SPACING = 0.1


@pytest.fixture(scope="module")
def gold(tmp_path_factory):
    """A gold-standard export of phantom frames whose PNGs lie under a local-files root."""
    root = tmp_path_factory.mktemp("gold")
    media = root / "media"
    frames = []
    for seed in SEEDS:
        for index in INDICES:
            image, masks = _rendered(seed, index)
            relative = f"frames/phantom-{seed}/{index:06d}.png"
            (media / relative).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(media / relative), image)
            task_id = 100 * seed + index + 1
            annotation = FrameAnnotation(
                task_id=task_id,
                annotator="user-1",
                masks={k: masks[c].astype(bool) for c, k in enumerate(TINY_SPEC.structures)},
                view=VIEWS[seed % 2],
                frame_shape_px=image.shape,
            )
            frames.append(
                LabelledFrame(
                    task_id=task_id,
                    project_id=1,
                    clip_id=f"phantom-{seed}",
                    frame_index=index,
                    time_s=index / 30,
                    view=VIEWS[seed % 2],
                    spacing_mm_per_px=SPACING,
                    infant_id=None,
                    image=f"/data/local-files/?d={relative}",
                    frame_shape_px=image.shape,
                    annotations=(annotation,),
                )
            )
    folder = write_gold_standard(frames, root / "exports", version="v1").folder
    return folder, media


def test_the_gold_standard_reads_back_with_clip_view_image_and_spacing(gold):
    folder, _ = gold

    frames = read_gold_standard(folder)

    assert len(frames) == len(SEEDS) * len(INDICES)
    first = frames[0]
    assert (first.clip_id, first.frame_index, first.view) == ("phantom-0", 0, VIEWS[0])
    assert first.image_url == "/data/local-files/?d=frames/phantom-0/000000.png"
    assert first.spacing_mm_per_px == SPACING
    assert first.annotation.masks["spinous_process"].any()


def test_training_on_the_gold_standard_never_loads_a_test_clip(gold, tmp_path):
    folder, media = gold
    frames = read_gold_standard(folder)
    split_file = SplitFile(tmp_path / "split.json")
    loader = frame_loader(media, "http://127.0.0.1:9", None, None, None)
    loaded = []

    def load(url):
        loaded.append(url)
        return loader.load_gray(url)

    store = ModelStore(tmp_path / "models")
    version = train_on_gold_standard(
        store, frames, split_file, load, FitConfig(epochs=2, batch_size=4), TINY_SPEC
    )

    split = split_file.read()
    assert split.test, "six clips must leave at least one for the test"
    test_urls = {f.image_url for f in frames if f.clip_id in split.test}
    assert loaded and not test_urls & set(loaded)
    described = json.loads((store.root / version / "model.json").read_text())
    data = described["data"]
    assert set(data["training"]["clip_ids"]) == split.training
    assert set(data["validation"]["clip_ids"]) == split.validation
    assert data["test_clips_left_out"] == sorted(split.test)
    assert len(described["history"]) == 2
    assert described["labels"]["0"]["key"] == TINY_SPEC.structures[0]
    assert described["network_data_format"]["outputs"]["pred"]["num_channels"] == len(
        TINY_SPEC.structures
    )

    result = CliRunner().invoke(
        evaluate_app,
        ["gold-standard", version, str(folder), "--store", str(store.root),
         "--split-file", str(split_file.path), "--media-root", str(media)],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "feature recognition accuracy" in result.output
    metrics = json.loads((store.root / version / "evaluation" / "metrics.json").read_text())
    assert set(metrics["split"]) == split.test
