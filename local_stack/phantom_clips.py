"""Phantom clips standing in for real ones when the clips folder is empty."""

from pathlib import Path

from label_config import LONG_AXIS, SHORT_AXIS
from training.phantom import generate_clip, write_dicom, write_mp4

DEMO_SEEDS = {LONG_AXIS: 9001, SHORT_AXIS: 9002}


def write_phantom_clips(folder: Path) -> list[Path]:
    """A long-axis MP4 and a short-axis DICOM cine, each in a folder named after its view."""
    written = []
    for view, seed in DEMO_SEEDS.items():
        clip = generate_clip(seed, view)
        target = folder / view / f"phantom-{seed}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if view == LONG_AXIS:
            path = target.with_suffix(".mp4")
            if not path.exists():
                write_mp4(clip, path)
        else:
            path = target.with_suffix(".dcm")
            if not path.exists():
                write_dicom(clip, path)
        written.append(path)
    return written
