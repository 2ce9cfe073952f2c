"""A folder of clips to stored frames: each clip on its own, failures reported, none fatal."""

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from training.splits import ClipRef, Split, SplitFile
from upload.clips import DICOM_SUFFIXES, STILL_SUFFIXES, VIDEO_SUFFIXES
from upload.errors import ClipError
from upload.frames import ClipReport, FrameRecord, IngestSettings, identify, ingest_clip
from upload.manifest import ClipManifests
from upload.storage import FrameStore

logger = logging.getLogger(__name__)

SKIPPED_SUFFIXES = frozenset({".json", ".txt", ".md", ".csv"})


@dataclass
class BatchReport:
    clips: list[ClipReport] = field(default_factory=list)

    @property
    def frames(self) -> list[FrameRecord]:
        return [frame for clip in self.clips for frame in clip.frames]

    @property
    def failures(self) -> list[ClipReport]:
        return [clip for clip in self.clips if clip.error]


@dataclass(frozen=True)
class UploadPlan:
    """Where clips come from and go, and the local files that never leave the site."""

    store: FrameStore
    site_key: bytes
    settings: IngestSettings
    pseudonym_map: Path
    manifests: ClipManifests
    split_file: Path | None = None
    """Where each clip's side (training, validation, test) is fixed the first time it is seen;
    None leaves the split to training."""


def find_clips(folder: Path) -> list[Path]:
    """Clip files below ``folder``, sorted; hidden files and sidecars are left out."""
    wanted = VIDEO_SUFFIXES | STILL_SUFFIXES | (DICOM_SUFFIXES - {""})
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        suffix = path.suffix.lower()
        if suffix in wanted or (suffix == "" and _has_dicom_preamble(path)):
            found.append(path)
        elif suffix not in SKIPPED_SUFFIXES:
            logger.warning("skipped %s: not a clip type this tool reads", path.name)
    return found


def _has_dicom_preamble(path: Path) -> bool:
    with open(path, "rb") as stream:
        return stream.read(132)[128:] == b"DICM"


def ingest_folder(folder: Path, plan: UploadPlan) -> BatchReport:
    """Ingest every clip under ``folder``; a failing clip is reported and the others go on."""
    report = BatchReport()
    for path in tqdm(find_clips(folder), desc="clips", unit="clip", position=0):
        report.clips.append(ingest_one(path, plan))
    record_pseudonyms(report, plan.pseudonym_map)
    if plan.split_file is not None:
        record_split(report, plan.split_file)
    return report


def ingest_one(path: Path, plan: UploadPlan) -> ClipReport:
    """A clip's report: reused from an earlier run, freshly ingested, or failed with a reason."""
    settings = plan.settings.describe()
    try:
        identity = identify(path, plan.site_key)
        earlier = plan.manifests.finished(path, identity.clip_id, settings, plan.store)
        if earlier is not None:
            return earlier
        clip_report = ingest_clip(path, plan.store, plan.site_key, plan.settings, identity)
    except ClipError as error:
        logger.error("clip failed: %s", error)
        return ClipReport(source=path, error=error.reason)
    except OSError as error:
        logger.error("clip failed: %s: %s", path, error)
        return ClipReport(source=path, error=f"storage or file error: {error}")
    plan.manifests.record(clip_report, settings)
    return clip_report


def record_split(report: BatchReport, split_file: Path) -> Split:
    """Fixes the side of every clip of ``report`` not yet in ``split_file``; returns the split."""
    refs = {f.clip_id: ClipRef(f.clip_id, f.view, f.infant_id) for f in report.frames}
    return SplitFile(split_file).assign(refs[clip_id] for clip_id in sorted(refs))


def record_pseudonyms(report: BatchReport, pseudonym_map: Path) -> None:
    """Keep the link from pseudonym to source file; this file stays on the site, never uploaded."""
    known = {}
    if pseudonym_map.is_file():
        with open(pseudonym_map, newline="") as stream:
            known = {row["clip_id"]: row for row in csv.DictReader(stream)}
    for clip in report.clips:
        if clip.clip_id:
            known[clip.clip_id] = {
                "clip_id": clip.clip_id,
                "content_sha256": clip.content_sha256,
                "source": str(clip.source),
            }
    pseudonym_map.parent.mkdir(parents=True, exist_ok=True)
    with open(pseudonym_map, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=["clip_id", "content_sha256", "source"])
        writer.writeheader()
        writer.writerows(known[k] for k in sorted(known))
    pseudonym_map.chmod(0o600)
