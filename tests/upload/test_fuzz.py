"""Damaged clips: truncated and byte-mutated copies of real and phantom files.

Each damaged file must give either a clear error naming a reason, or frames of the right
shape; never another exception, never a hang. The mutations are seeded, so a failure
reproduces.
"""

import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from label_config import LONG_AXIS, SHORT_AXIS
from tests.upload.plans import upload_plan
from training.phantom import generate_clip, write_dicom, write_mp4
from upload.batch import ingest_one
from upload.selection import FrameSelection

SECONDS_PER_CASE = 20


@dataclass(frozen=True)
class Sample:
    name: str
    content: bytes
    frame_shape: tuple[int, int]


@pytest.fixture(scope="module")
def samples(tmp_path_factory, real_clips_dir, sonosite_dicom) -> list[Sample]:
    folder = tmp_path_factory.mktemp("fuzz-samples")
    mp4 = write_mp4(generate_clip(61, LONG_AXIS, duration_s=0.5), folder / "phantom.mp4")
    dcm = write_dicom(generate_clip(62, SHORT_AXIS, duration_s=0.2), folder / "phantom.dcm")
    return [
        Sample(
            "clarius.mp4", (real_clips_dir / "clarius-ocular-short.mp4").read_bytes(), (960, 1280)
        ),
        Sample("sonosite.dcm", sonosite_dicom.read_bytes(), (480, 640)),
        Sample("phantom.mp4", mp4.read_bytes(), (400, 480)),
        Sample("phantom.dcm", dcm.read_bytes(), (400, 480)),
    ]


def damaged(sample: Sample, case: int) -> bytes:
    """Case-seeded damage: a truncation, flipped bytes, a zeroed run, or a duplicated chunk."""
    rng = np.random.default_rng(case)
    content = bytearray(sample.content)
    kind = case % 4
    if kind == 0:
        return bytes(content[: int(rng.integers(0, len(content)))])
    if kind == 1:
        for offset in rng.integers(0, len(content), size=int(rng.integers(1, 32))):
            content[offset] ^= int(rng.integers(1, 256))
        return bytes(content)
    start = int(rng.integers(0, len(content)))
    length = int(rng.integers(1, 4096))
    if kind == 2:
        content[start : start + length] = bytes(len(content[start : start + length]))
        return bytes(content)
    return bytes(content[:start] + content[start : start + length] * 2 + content[start + length :])


class Hung(Exception):
    pass


def _raise_hung(signum, frame):
    raise Hung()


CASES_PER_SAMPLE = 55


@pytest.mark.parametrize("sample_index", range(4))
def test_damaged_files_give_a_clear_error_or_valid_frames(tmp_path, samples, sample_index):
    sample = samples[sample_index]
    plan = upload_plan(tmp_path, FrameSelection(step=7, max_frames=3))
    outcomes = {"error": 0, "frames": 0}
    previous = signal.signal(signal.SIGALRM, _raise_hung)
    try:
        for case in range(CASES_PER_SAMPLE):
            path = tmp_path / f"case-{case:03d}-{sample.name}"
            path.write_bytes(damaged(sample, case))
            signal.alarm(SECONDS_PER_CASE)
            report = ingest_one(path, plan)
            signal.alarm(0)
            check_outcome(report, path, sample)
            outcomes["error" if report.error else "frames"] += 1
            path.unlink()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert sum(outcomes.values()) == CASES_PER_SAMPLE
    assert outcomes["error"] > 0


def check_outcome(report, path: Path, sample: Sample) -> None:
    if report.error:
        assert report.error.strip(), f"{path.name}: an empty error message"
        assert report.frames == []
        return
    assert report.frames, f"{path.name}: no error and no frame"
    for frame in report.frames:
        assert (frame.height_px, frame.width_px) == sample.frame_shape, path.name
