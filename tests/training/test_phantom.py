"""Synthetic infant spine phantom: geometry, appearance, ground truth, determinism, writers."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np
import pydicom
import pytest

from label_config.schema import LONG_AXIS, SHORT_AXIS, STRUCTURES
from training.phantom import PhantomClip, PhantomFrame, generate_clip, write_dicom, write_mp4

CHANNEL = {structure.key: index for index, structure in enumerate(STRUCTURES)}
SEEDS = (0, 1, 2, 3)


@cache
def clip_of(seed: int, view: str) -> PhantomClip:
    return generate_clip(seed, view, duration_s=2.0, fps=15.0)


@cache
def frame_of(seed: int, view: str, index: int = 0) -> PhantomFrame:
    return clip_of(seed, view).render(index)


def region_slices(clip: PhantomClip) -> tuple[slice, slice]:
    x0, y0, x1, y1 = clip.imaging_region
    return slice(y0, y1), slice(x0, x1)


def mean_in(image: np.ndarray, mask: np.ndarray) -> float:
    assert mask.any(), "the region to average is empty"
    return float(image[mask.astype(bool)].mean())


def test_frame_has_documented_shapes_and_values():
    clip = clip_of(0, LONG_AXIS)
    frame = clip.render(3)

    assert frame.image.shape == (clip.height_px, clip.width_px) == (400, 480)
    assert frame.image.dtype == np.uint8
    assert frame.masks.shape == (len(STRUCTURES), 400, 480)
    assert frame.masks.dtype == np.uint8
    assert set(np.unique(frame.masks)) <= {0, 1}
    assert frame.time_s == pytest.approx(3 / clip.fps)
    assert len(clip) == clip.n_frames == 30


@pytest.mark.parametrize("view", [LONG_AXIS, SHORT_AXIS])
def test_masks_are_zero_outside_the_imaging_region(view):
    clip = clip_of(1, view)
    masks = frame_of(1, view).masks.copy()
    rows, cols = region_slices(clip)
    masks[:, rows, cols] = 0

    assert not masks.any()


def test_long_axis_shows_its_structures_and_no_thecal_sac():
    for seed in SEEDS:
        present = frame_of(seed, LONG_AXIS).masks.reshape(len(STRUCTURES), -1).any(axis=1)
        for key in (
            "spinous_process",
            "interspinous_window",
            "posterior_complex",
            "csf",
            "vertebral_body",
        ):
            assert present[CHANNEL[key]], f"seed {seed}: {key} missing"
        assert present[CHANNEL["cord"]] or present[CHANNEL["cauda_equina"]]
        assert not present[CHANNEL["thecal_sac"]]


def test_short_axis_shows_sac_with_cord_or_roots_and_no_window():
    for seed in SEEDS:
        masks = frame_of(seed, SHORT_AXIS).masks
        present = masks.reshape(len(STRUCTURES), -1).any(axis=1)
        for key in ("spinous_process", "posterior_complex", "csf", "thecal_sac", "vertebral_body"):
            assert present[CHANNEL[key]], f"seed {seed}: {key} missing"
        assert present[CHANNEL["cord"]] or present[CHANNEL["cauda_equina"]]
        assert not present[CHANNEL["interspinous_window"]]


@pytest.mark.parametrize("view", [LONG_AXIS, SHORT_AXIS])
def test_masks_overlap_only_inside_the_thecal_sac(view):
    for seed in SEEDS:
        masks = frame_of(seed, view).masks.astype(int)
        others = np.delete(masks, CHANNEL["thecal_sac"], axis=0)
        assert others.sum(axis=0).max() == 1
        contents = masks[CHANNEL["csf"]] | masks[CHANNEL["cord"]] | masks[CHANNEL["cauda_equina"]]
        if view == SHORT_AXIS:
            np.testing.assert_array_equal(masks[CHANNEL["thecal_sac"]], contents)


@pytest.mark.parametrize("view", [LONG_AXIS, SHORT_AXIS])
def test_csf_is_darker_than_posterior_complex_and_subcutaneous_tissue(view):
    for seed in SEEDS:
        clip, frame = clip_of(seed, view), frame_of(seed, view)
        csf = mean_in(frame.image, _eroded_mask(frame.masks[CHANNEL["csf"]]))
        complex_ = mean_in(frame.image, frame.masks[CHANNEL["posterior_complex"]])
        x0, y0, x1, _ = clip.imaging_region
        top, bottom = (y0 + int(d / clip.spacing_mm_per_px) for d in (0.8, 1.2))
        subcutis = float(frame.image[top:bottom, x0:x1].mean())

        assert csf < 0.5 * complex_, f"seed {seed}: CSF {csf:.0f} vs complex {complex_:.0f}"
        assert csf < 0.5 * subcutis, f"seed {seed}: CSF {csf:.0f} vs subcutis {subcutis:.0f}"


def _eroded_mask(mask: np.ndarray, by: int = 2) -> np.ndarray:
    """The mask without its outer ``by`` pixels, where the point-spread function blurs edges."""
    return cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=by)


def test_ossified_spinous_process_shadows_what_lies_beneath():
    for seed in SEEDS:
        clip, frame = clip_of(seed, LONG_AXIS), frame_of(seed, LONG_AXIS)
        spinous_bone = clip.bone_mask(0) & frame.masks[CHANNEL["spinous_process"]]
        shadow_cols = _eroded(spinous_bone.any(axis=0), 5)
        window_cols = _eroded(frame.masks[CHANNEL["interspinous_window"]].any(axis=0), 5)
        window_cols &= ~_dilated(spinous_bone.any(axis=0), 8)
        complex_ = frame.masks[CHANNEL["posterior_complex"]].astype(bool)

        shadowed = mean_in(frame.image, complex_ & shadow_cols[None, :])
        through_window = mean_in(frame.image, complex_ & window_cols[None, :])
        message = f"seed {seed}: shadow {shadowed:.0f} vs window {through_window:.0f}"
        assert shadowed < 0.4 * through_window, message


def _eroded(columns: np.ndarray, by: int) -> np.ndarray:
    return ~_dilated(~columns, by)


def _dilated(columns: np.ndarray, by: int) -> np.ndarray:
    padded = np.pad(columns, by)
    return np.any([padded[i : i + columns.size] for i in range(2 * by + 1)], axis=0)


@pytest.mark.parametrize("view", [LONG_AXIS, SHORT_AXIS])
def test_skin_to_csf_depth_is_infant_like_and_matches_the_masks(view):
    for seed in SEEDS:
        clip, frame = clip_of(seed, view), frame_of(seed, view)
        x0, y0, x1, y1 = clip.imaging_region
        csf = frame.masks[CHANNEL["csf"], y0:y1, x0:x1].astype(bool)
        centre = int(np.nonzero(csf.any(axis=0))[0].mean())
        central = csf[:, centre - 10 : centre + 10]
        first_rows = central.argmax(axis=0)[central.any(axis=0)]
        depth_mm = float(np.median(first_rows)) * clip.spacing_mm_per_px

        assert 10.0 <= clip.skin_to_csf_mm <= 15.0
        assert depth_mm == pytest.approx(clip.skin_to_csf_mm, abs=1.5)


def test_field_geometry_matches_a_linear_infant_probe():
    for seed in SEEDS:
        clip = clip_of(seed, LONG_AXIS)
        x0, y0, x1, y1 = clip.imaging_region
        assert 25.0 <= (y1 - y0) * clip.spacing_mm_per_px <= 35.5
        assert 34.5 <= (x1 - x0) * clip.spacing_mm_per_px <= 40.5
        assert y0 >= 40 and x1 <= clip.width_px and y1 <= clip.height_px


def test_same_seed_renders_identical_frames():
    first = generate_clip(11, SHORT_AXIS, duration_s=1.0).render(7)
    again = generate_clip(11, SHORT_AXIS, duration_s=1.0)

    for frame in (again.render(7), again.render(7)):
        np.testing.assert_array_equal(frame.image, first.image)
        np.testing.assert_array_equal(frame.masks, first.masks)


def test_different_seeds_give_different_clips():
    one, two = frame_of(0, LONG_AXIS), frame_of(1, LONG_AXIS)

    assert not np.array_equal(one.image, two.image)
    assert not np.array_equal(one.masks, two.masks)
    assert clip_of(0, LONG_AXIS).identifiers != clip_of(1, LONG_AXIS).identifiers


def test_both_views_of_a_seed_show_the_same_infant():
    long_clip, short_clip = clip_of(2, LONG_AXIS), clip_of(2, SHORT_AXIS)

    assert long_clip.identifiers == short_clip.identifiers
    assert long_clip.skin_to_csf_mm == short_clip.skin_to_csf_mm


def test_frames_change_over_time_and_masks_follow_the_probe():
    clip = clip_of(3, LONG_AXIS)
    start, later = clip.render(0), clip.render(25)
    rows, cols = region_slices(clip)
    spinous = CHANNEL["spinous_process"]

    assert not np.array_equal(start.image[rows, cols], later.image[rows, cols])
    assert not np.array_equal(start.masks[spinous], later.masks[spinous])
    shift = _best_shift(start.masks[spinous, rows, cols], later.masks[spinous, rows, cols])
    assert abs(shift) >= 3
    assert shift == pytest.approx(_expected_shift_px(clip, start, 0, 25), abs=2.5)
    band = start.masks[spinous, rows, cols].any(axis=1)
    moved = _correlation(start.image[rows, cols][band], later.image[rows, cols][band], shift)
    still = _correlation(start.image[rows, cols][band], later.image[rows, cols][band], 0)
    assert moved > still


def _best_shift(before: np.ndarray, after: np.ndarray, reach: int = 40) -> int:
    """Column shift best aligning two masks; kept under half a segment, as processes repeat."""
    scores = [
        np.sum(before[:, reach:-reach] & np.roll(after, -s, axis=1)[:, reach:-reach])
        for s in range(-reach, reach + 1)
    ]
    return int(np.argmax(scores)) - reach


def _expected_shift_px(clip: PhantomClip, frame: PhantomFrame, first: int, last: int) -> float:
    """Image x of a fixed body point moves by (-lateral + z sin(tilt)) / cos(tilt) / spacing."""
    rows = np.nonzero(frame.masks[CHANNEL["spinous_process"]])[0]
    depth_mm = (rows.mean() - clip.imaging_region[1]) * clip.spacing_mm_per_px

    def x_mm(index: int) -> float:
        pose = clip.pose(index)
        tilt = np.deg2rad(pose.tilt_deg)
        return (-pose.lateral_mm + (depth_mm + pose.depth_mm) * np.sin(tilt)) / np.cos(tilt)

    return (x_mm(last) - x_mm(first)) / clip.spacing_mm_per_px


def _correlation(before: np.ndarray, after: np.ndarray, shift: int) -> float:
    reach = 40
    a = before[:, reach:-reach].astype(float).ravel()
    b = np.roll(after, -shift, axis=1)[:, reach:-reach].astype(float).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_fake_identifiers_are_distinctive_and_burned_into_the_header():
    clip = clip_of(0, SHORT_AXIS)
    ids = clip.identifiers

    assert re.fullmatch(r"[A-Z]+\^[A-Z]+\^\d{4}", ids["patient_name"])
    assert re.fullmatch(r"PH-\d{6}", ids["patient_id"])
    assert datetime.strptime(ids["birth_date"], "%Y%m%d")
    assert ids["institution"]
    header = frame_of(0, SHORT_AXIS).image[:40]
    assert (header > 150).sum() > 500


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="view"):
        generate_clip(0, "coronal")
    with pytest.raises(ValueError, match="seed"):
        generate_clip(-1, LONG_AXIS)
    with pytest.raises(IndexError):
        clip_of(0, LONG_AXIS).render(30)


def test_write_mp4_decodes_with_every_frame_at_its_time(tmp_path: Path):
    clip = generate_clip(5, LONG_AXIS, duration_s=0.5, fps=20.0)
    path = write_mp4(clip, tmp_path / "clip.mp4")

    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == clip.n_frames == 10
    assert {(f.width, f.height) for f in frames} == {(clip.width_px, clip.height_px)}
    times = [float(f.time) for f in frames]
    np.testing.assert_allclose(times, np.arange(clip.n_frames) / clip.fps, atol=1e-3)
    decoded = frames[4].to_ndarray(format="gray").astype(int)
    assert np.abs(decoded - clip.render(4).image.astype(int)).mean() < 6


def test_write_dicom_reads_back_with_timing_region_and_identifiers(tmp_path: Path):
    clip = generate_clip(6, SHORT_AXIS, duration_s=0.4, fps=25.0)
    path = write_dicom(clip, tmp_path / "clip.dcm")
    dataset = pydicom.dcmread(path)

    assert dataset.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert dataset.NumberOfFrames == clip.n_frames == 10
    assert float(dataset.FrameTime) == pytest.approx(40.0)
    assert dataset.FrameIncrementPointer == pydicom.tag.Tag("FrameTime")
    assert dataset.PhotometricInterpretation == "MONOCHROME2" and dataset.BitsAllocated == 8
    assert dataset.pixel_array.shape == (clip.n_frames, clip.height_px, clip.width_px)
    np.testing.assert_array_equal(dataset.pixel_array[3], clip.render(3).image)
    (region,) = dataset.SequenceOfUltrasoundRegions
    inclusive_corners = (
        region.RegionLocationMinX0,
        region.RegionLocationMinY0,
        region.RegionLocationMaxX1 + 1,
        region.RegionLocationMaxY1 + 1,
    )
    assert inclusive_corners == clip.imaging_region
    assert region.PhysicalUnitsXDirection == region.PhysicalUnitsYDirection == 3
    assert region.PhysicalDeltaX == pytest.approx(clip.spacing_mm_per_px / 10)
    assert str(dataset.PatientName) == clip.identifiers["patient_name"]
    assert dataset.PatientID == clip.identifiers["patient_id"]
    assert dataset.PatientBirthDate == clip.identifiers["birth_date"]
    assert dataset.InstitutionName == clip.identifiers["institution"]


def test_same_seed_writes_the_same_dicom_bytes(tmp_path: Path):
    paths = [
        write_dicom(generate_clip(8, LONG_AXIS, duration_s=0.2), tmp_path / f"{n}.dcm")
        for n in ("a", "b")
    ]
    other = write_dicom(generate_clip(9, LONG_AXIS, duration_s=0.2), tmp_path / "c.dcm")

    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != other.read_bytes()
