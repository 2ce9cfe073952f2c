"""Upload plans for tests: a local store and ledger under one temporary folder."""

from upload.batch import UploadPlan
from upload.frames import IngestSettings
from upload.manifest import ClipManifests
from upload.selection import FrameSelection
from upload.storage import LocalFrameStore

SITE_KEY = bytes(range(32))


def upload_plan(root, selection: FrameSelection) -> UploadPlan:
    return UploadPlan(
        store=LocalFrameStore(root / "media"),
        site_key=SITE_KEY,
        settings=IngestSettings(selection),
        pseudonym_map=root / "pseudonyms.csv",
        manifests=ClipManifests(root / "manifests"),
    )
