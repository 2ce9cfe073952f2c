"""The gold-standard folder on tiny synthetic frames: bytes, round trip, checksums."""

import csv
import gzip
import io
import json
import shutil
import subprocess

import cv2
import nibabel as nib
import numpy as np
import pytest
from pycocotools import mask as coco_mask

from training.annotations import FrameAnnotation
from training.export import (
    ChecksumError,
    ExportError,
    LabelledFrame,
    import_gold_standard,
    write_gold_standard,
)
from training.export.gold import build_gold_frames

SHAPE = (6, 8)
SPACING_MM_PER_PX = 0.25


def box(top: int, left: int, bottom: int, right: int) -> np.ndarray:
    painted = np.zeros(SHAPE, bool)
    painted[top:bottom, left:right] = True
    return painted


def frame(task_id, clip_id, frame_index, annotations, view="long_axis") -> LabelledFrame:
    return LabelledFrame(
        task_id=task_id,
        project_id=1,
        clip_id=clip_id,
        frame_index=frame_index,
        time_s=frame_index / 30,
        view=view,
        spacing_mm_per_px=SPACING_MM_PER_PX,
        infant_id="infant-1",
        image=f"/data/local-files/?d=frames/{clip_id}/{frame_index:06d}.png",
        frame_shape_px=SHAPE,
        annotations=tuple(annotations),
    )


def labels(task_id: int, annotator: str, **fields) -> FrameAnnotation:
    return FrameAnnotation(task_id=task_id, annotator=annotator, frame_shape_px=SHAPE, **fields)


@pytest.fixture()
def frames() -> list[LabelledFrame]:
    everything = frozenset({"spinous_process", "posterior_complex", "thecal_sac"})
    return [
        frame(
            11,
            "clip-a",
            20,
            [
                labels(
                    11,
                    "user-1",
                    masks={"csf": box(0, 0, 3, 8)},
                    points={"conus_tip": (2.5, 1.0)},
                    view="long_axis",
                    quality="diagnostic",
                    level="L3/4",
                ),
                labels(
                    11,
                    "user-2",
                    masks={"csf": box(0, 0, 2, 8)},
                    points={"conus_tip": (3.5, 1.0)},
                    view="long_axis",
                    quality="limited",
                    level="L3/4",
                ),
            ],
        ),
        frame(10, "clip-a", 0, [labels(10, "user-1", masks={"cord": box(5, 6, 6, 8)})]),
        frame(
            12,
            "clip-b",
            0,
            [
                labels(12, n, not_visible=everything, quality="non-diagnostic")
                for n in ("user-1", "user-2")
            ],
            view="short_axis",
        ),
    ]


def folder_bytes(folder) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_exporting_the_same_frames_twice_gives_identical_bytes(frames, tmp_path):
    first = write_gold_standard(frames, tmp_path / "one", version="v1").folder
    second = write_gold_standard(list(reversed(frames)), tmp_path / "two", version="v1").folder

    assert first.name == "gold-standard-v1"
    assert folder_bytes(first) == folder_bytes(second)


def test_import_reproduces_every_gold_mask_point_and_choice(frames, tmp_path):
    folder = write_gold_standard(frames, tmp_path, version="v1").folder
    expected = {g.gold.task_id: g.gold for g in build_gold_frames(frames)}

    imported = import_gold_standard(folder)

    assert [a.task_id for a in imported] == [10, 11, 12]
    for annotation in imported:
        gold = expected[annotation.task_id]
        assert annotation.masks.keys() == gold.masks.keys()
        assert all(np.array_equal(annotation.masks[k], gold.masks[k]) for k in gold.masks)
        assert annotation.points == gold.points
        assert annotation.not_visible == gold.not_visible
        assert annotation.annotator == gold.annotator
        assert (annotation.view, annotation.level, annotation.quality) == (
            gold.view,
            gold.level,
            gold.quality,
        )
        assert annotation.frame_shape_px == SHAPE


def test_manifest_holds_agreement_and_choices_of_each_frame(frames, tmp_path):
    folder = write_gold_standard(frames, tmp_path, version="v1").folder

    rows = {
        r["task_id"]: r for r in csv.DictReader(io.StringIO((folder / "manifest.csv").read_text()))
    }

    consensus = rows["11"]
    assert consensus["frame"] == "clip-a/000020"
    assert consensus["annotators"] == "user-1;user-2"
    assert consensus["gold_source"] == "consensus"
    assert float(consensus["dice_csf"]) == pytest.approx(2 * 16 / (24 + 16))
    assert float(consensus["conus_tip_distance_mm"]) == pytest.approx(1.0 * SPACING_MM_PER_PX)
    assert (consensus["conus_tip_x_px"], consensus["conus_tip_y_px"]) == ("3.0", "1.0")
    assert consensus["quality"] == "limited" and consensus["tied_choices"] == "quality"
    assert rows["10"]["gold_source"] == "single" and rows["10"]["dice_cord"] == ""
    assert rows["12"]["not_visible"] == "spinous_process;posterior_complex;thecal_sac"
    assert rows["12"]["dice_spinous_process"] == "1.000000"
    assert rows["12"]["infant_id"] == "infant-1"


def test_masks_are_0_255_pngs_and_nifti_volumes_carry_the_spacing(frames, tmp_path):
    folder = write_gold_standard(frames, tmp_path, version="v1").folder
    gold = {g.gold.task_id: g.gold for g in build_gold_frames(frames)}

    volume = nib.Nifti1Image.from_bytes(
        gzip.decompress((folder / "nifti/clip-a/cord.nii.gz").read_bytes())
    )

    assert volume.shape == (SHAPE[1], SHAPE[0], 2)
    assert volume.header.get_zooms() == pytest.approx((SPACING_MM_PER_PX, SPACING_MM_PER_PX, 1.0))
    assert np.array_equal(np.asarray(volume.dataobj)[:, :, 0].T, gold[10].masks["cord"])
    assert not np.asarray(volume.dataobj)[:, :, 1].any()
    png = cv2.imread(str(folder / "masks/clip-a/000000/cord.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint8 and png.shape == SHAPE
    assert set(np.unique(png)) == {0, 255}


def test_coco_rle_decodes_to_the_gold_masks(frames, tmp_path):
    folder = write_gold_standard(frames, tmp_path, version="v1").folder
    gold = {g.gold.task_id: g.gold for g in build_gold_frames(frames)}

    coco = json.loads((folder / "coco.json").read_text())

    categories = {c["id"]: c["name"] for c in coco["categories"]}
    assert {i["id"] for i in coco["images"]} == {10, 11, 12}
    assert len(coco["annotations"]) == 2
    for annotation in coco["annotations"]:
        rle = annotation["segmentation"]
        decoded = coco_mask.decode({"size": rle["size"], "counts": rle["counts"].encode()})
        key = categories[annotation["category_id"]]
        assert np.array_equal(decoded.astype(bool), gold[annotation["image_id"]].masks[key])


def test_checksums_verify_with_sha256sum(frames, tmp_path):
    folder = write_gold_standard(frames, tmp_path, version="v1").folder
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum is not installed")

    checked = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=folder)

    assert checked.returncode == 0


def test_a_changed_byte_raises_naming_the_file(frames, tmp_path):
    folder = write_gold_standard(frames, tmp_path, version="v1").folder
    png = folder / "masks/clip-a/000020/csf.png"
    content = bytearray(png.read_bytes())
    content[-20] ^= 0x01
    png.write_bytes(bytes(content))

    with pytest.raises(ChecksumError, match="masks/clip-a/000020/csf.png"):
        import_gold_standard(folder)


def test_an_added_or_removed_file_raises(frames, tmp_path):
    folder = write_gold_standard(frames, tmp_path, version="v1").folder
    (folder / "notes.txt").write_text("extra")

    with pytest.raises(ChecksumError, match="notes.txt"):
        import_gold_standard(folder)
    (folder / "notes.txt").unlink()
    (folder / "coco.json").unlink()
    with pytest.raises(ChecksumError, match="coco.json"):
        import_gold_standard(folder)


def test_an_existing_version_is_never_overwritten(frames, tmp_path):
    write_gold_standard(frames, tmp_path, version="v1")

    with pytest.raises(ExportError, match="exists"):
        write_gold_standard(frames, tmp_path, version="v1")


def test_one_frame_in_two_tasks_raises(frames, tmp_path):
    duplicate = frame(99, "clip-a", 20, [labels(99, "user-3")])

    with pytest.raises(ExportError, match="tasks 11 and 99"):
        write_gold_standard([*frames, duplicate], tmp_path, version="v1")


def test_a_version_that_cannot_name_a_folder_raises(frames, tmp_path):
    with pytest.raises(ExportError, match="version"):
        write_gold_standard(frames, tmp_path, version="../v1")
