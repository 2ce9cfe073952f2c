"""Ingest throughput against decode-only on the same files, and peak memory.

    .venv/bin/python bench/ingest_throughput.py [--clips 80] [--workdir var/bench]

The workload is phantom clips of 6 s at 30 fps (most MP4, some DICOM cine), written once
and reused. Each phase runs in its own process so that its peak resident memory is its own.
Both phases are measured in this one run, so their ratio holds on a noisy machine.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from label_config import VIEWS
from training.phantom import generate_clip, write_dicom, write_mp4

BENCH_SITE_KEY = bytes(32)
DICOM_EVERY = 8
"""One clip in eight is written as DICOM cine, the rest as MP4."""


def write_workload(folder: Path, n_clips: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(n_clips):
        dicom = seed % DICOM_EVERY == DICOM_EVERY - 1
        path = folder / VIEWS[seed % 2] / f"clip-{seed:03d}{'.dcm' if dicom else '.mp4'}"
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            clip = generate_clip(10_000 + seed, VIEWS[seed % 2])
            (write_dicom if dicom else write_mp4)(clip, path)
        paths.append(path)
    return paths


def decode_only(folder: Path) -> dict:
    from upload.batch import find_clips
    from upload.clips import open_clip

    started, frames = time.perf_counter(), 0
    for path in find_clips(folder):
        frames += sum(1 for _ in open_clip(path).frames())
    return {"seconds": time.perf_counter() - started, "frames_decoded": frames}


def end_to_end(folder: Path) -> dict:
    from upload.batch import UploadPlan, ingest_folder
    from upload.frames import IngestSettings
    from upload.manifest import ClipManifests
    from upload.storage import LocalFrameStore

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        plan = UploadPlan(
            LocalFrameStore(root / "media"),
            BENCH_SITE_KEY,
            IngestSettings(),
            root / "pseudonyms.csv",
            ClipManifests(root / "manifests"),
        )
        started = time.perf_counter()
        report = ingest_folder(folder, plan)
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "frames_decoded": sum(c.frames_decoded for c in report.clips),
        "frames_stored": len(report.frames),
        "failures": len(report.failures),
    }


def run_phase(phase: str, workdir: Path) -> dict:
    """Run one phase in a child process, which reports its own peak resident memory."""
    command = [sys.executable, __file__, "--phase", phase, "--workdir", str(workdir)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=80)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench/ingest"))
    parser.add_argument("--phase", choices=["decode", "ingest"])
    arguments = parser.parse_args()
    clips_folder = arguments.workdir / "clips"
    if arguments.phase:
        if not any(clips_folder.rglob("clip-*")):
            raise SystemExit(f"no workload in {clips_folder}: run without --phase first")
        phases = {"decode": decode_only, "ingest": end_to_end}
        result = phases[arguments.phase](clips_folder)
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({**result, "peak_rss_mib": round(peak_kib / 1024, 1)}))
        return
    write_workload(clips_folder, arguments.clips)
    decode = run_phase("decode", arguments.workdir)
    ingest = run_phase("ingest", arguments.workdir)
    report(arguments.clips, decode, ingest)


def report(n_clips: int, decode: dict, ingest: dict) -> None:
    decode_rate = decode["frames_decoded"] / decode["seconds"]
    ingest_rate = ingest["frames_decoded"] / ingest["seconds"]
    print(f"workload: {n_clips} phantom clips, 6 s at 30 fps, {decode['frames_decoded']} frames")
    print(
        f"decode only : {decode['seconds']:.1f} s, {decode_rate:.0f} frames/s, "
        f"peak {decode['peak_rss_mib']} MiB"
    )
    print(
        f"end to end  : {ingest['seconds']:.1f} s, {ingest_rate:.0f} frames/s, "
        f"peak {ingest['peak_rss_mib']} MiB, {ingest['frames_stored']} frames stored, "
        f"{ingest['failures']} failures"
    )
    print(f"ratio end-to-end / decode-only rate: {ingest_rate / decode_rate:.2f} (goal >= 0.5)")
    print(
        f"80-clip time goal < 180 s: {'met' if ingest['seconds'] < 180 else 'missed'}; "
        f"peak memory goal < 1024 MiB: {'met' if ingest['peak_rss_mib'] < 1024 else 'missed'}"
    )


if __name__ == "__main__":
    main()
