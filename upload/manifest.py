"""A local record of each finished clip, so that a re-run skips clips already stored.

A clip's record is written only after all its frames are stored; a crash mid-clip leaves no
record, and the next run ingests that clip again, overwriting its partial frames.
"""

import json
import os
from dataclasses import asdict
from pathlib import Path

from upload.frames import ClipReport, FrameRecord
from upload.storage import FrameStore


class ClipManifests:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _path(self, clip_id: str) -> Path:
        return self.folder / f"{clip_id}.json"

    def finished(
        self, source: Path, clip_id: str, settings: str, store: FrameStore
    ) -> ClipReport | None:
        """The earlier report of this clip under the same settings, if all its frames remain."""
        path = self._path(clip_id)
        if not path.is_file():
            return None
        record = json.loads(path.read_text())
        if record["settings"] != settings:
            return None
        frames = [FrameRecord(**frame) for frame in record["frames"]]
        if not all(store.exists(frame.storage_key) for frame in frames):
            return None
        return ClipReport(
            source=source,
            clip_id=clip_id,
            content_sha256=record["content_sha256"],
            frames_decoded=record["frames_decoded"],
            frames=frames,
            blanked_share=record["blanked_share"],
            reused=True,
        )

    def record(self, report: ClipReport, settings: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {
            "settings": settings,
            "content_sha256": report.content_sha256,
            "frames_decoded": report.frames_decoded,
            "blanked_share": report.blanked_share,
            "frames": [asdict(frame) for frame in report.frames],
        }
        partial = self._path(report.clip_id).with_suffix(".partial")
        partial.write_text(json.dumps(record, indent=1))
        os.replace(partial, self._path(report.clip_id))
