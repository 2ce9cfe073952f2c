"""Where the embedded stack keeps its state: everything under one folder, ``var/`` by default."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StackPaths:
    root: Path

    @property
    def secrets(self) -> Path:
        return self.root / "secrets.json"

    @property
    def label_studio_data(self) -> Path:
        return self.root / "label-studio"

    @property
    def media_root(self) -> Path:
        """Label Studio's local-files root: holds de-identified frames and nothing else."""
        return self.root / "media"

    @property
    def frames_dir(self) -> Path:
        return self.media_root / "frames"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def split_file(self) -> Path:
        """Each clip's side of the split, fixed when the clip is first uploaded."""
        return self.models / "split.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pseudonym_map(self) -> Path:
        return self.root / "upload" / "pseudonyms.csv"

    @property
    def manifests(self) -> Path:
        """One record per finished clip, so that re-runs skip it."""
        return self.root / "upload" / "manifests"

    @property
    def backend_database(self) -> Path:
        """The backend's state: annotation events, model versions, training runs."""
        return self.root / "backend.sqlite3"

    @property
    def phantom_clips(self) -> Path:
        return self.root / "phantom-clips"
