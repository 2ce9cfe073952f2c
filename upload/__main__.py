"""Upload clips as de-identified frame tasks: ``python -m upload CLIPS [options]``.

CLIPS is a folder or an ``s3://bucket/prefix``. Frames go to the local media folder or, with
``--store s3://bucket/prefix``, to a private bucket that Label Studio reads through an S3
storage. Exits 1 when any clip failed; the other clips are stored and their tasks created.
"""

import os
import tempfile
from pathlib import Path

import boto3
import typer

from local_stack.logging_setup import configure_logging
from local_stack.paths import StackPaths
from local_stack.project import SpineProjects
from local_stack.s3_storage import register_s3_storage
from local_stack.secrets_file import load_or_create
from upload.batch import BatchReport, UploadPlan, ingest_folder
from upload.frames import IngestSettings
from upload.manifest import ClipManifests
from upload.s3_source import download_clips
from upload.selection import FrameSelection, SelectionMode
from upload.storage import FrameStore, LocalFrameStore, S3FrameStore
from upload.summary import print_summary

app = typer.Typer(add_completion=False)


def open_store(store: str, paths: StackPaths, endpoint_url: str | None) -> FrameStore:
    if store == "local":
        return LocalFrameStore(paths.media_root)
    return S3FrameStore.from_uri(store, endpoint_url)


def ingest_source(clips: str, plan: UploadPlan, endpoint_url: str | None) -> BatchReport:
    if not clips.startswith("s3://"):
        folder = Path(clips)
        if not folder.is_dir():
            raise typer.BadParameter(f"{clips} is not a folder", param_hint="CLIPS")
        return ingest_folder(folder, plan)
    with tempfile.TemporaryDirectory(prefix="clips-") as scratch:
        return ingest_folder(download_clips(clips, Path(scratch), endpoint_url), plan)


def create_tasks(report: BatchReport, store: FrameStore, url: str, token: str) -> None:
    projects = SpineProjects(url, token)
    if isinstance(store, S3FrameStore):
        # Label Studio keeps these keys: give it one that can only read this bucket.
        credentials = boto3.Session().get_credentials().get_frozen_credentials()
        for project in projects:
            register_s3_storage(
                project.client,
                project.id,
                store.bucket,
                store.prefix,
                store.client.meta.endpoint_url,
                credentials.access_key,
                credentials.secret_key,
                store.client.meta.region_name,
            )
    projects.import_frames(report.frames, store)


@app.command()
def main(
    clips: str = typer.Argument(..., help="Folder of clips, or s3://bucket/prefix."),
    state_dir: Path = typer.Option(
        Path("var"), help="Where ledger, secrets and local frames live."
    ),
    store: str = typer.Option("local", help="'local' (STATE_DIR/media) or s3://bucket/prefix."),
    s3_endpoint_url: str = typer.Option(None, help="An S3-compatible server, such as MinIO."),
    selection: SelectionMode = typer.Option(SelectionMode.EVERY_KTH, help="Which frames to keep."),
    frame_step: int = typer.Option(10, min=1, help="With 'every': keep every k-th frame."),
    change_threshold: float = typer.Option(6.0, min=0, help="With 'change': grey levels."),
    max_frames: int = typer.Option(200, min=1, help="Most frames kept per clip."),
    depth_mm: float = typer.Option(None, help="Imaging depth of videos without a sidecar."),
    label_studio_url: str = typer.Option("http://127.0.0.1:8080"),
    tasks: bool = typer.Option(True, help="Create Label Studio tasks for new frames."),
) -> None:
    configure_logging()
    paths = StackPaths(state_dir)
    secrets, _ = load_or_create(paths.secrets)
    plan = UploadPlan(
        store=open_store(store, paths, s3_endpoint_url),
        site_key=secrets.site_key,
        settings=IngestSettings(
            FrameSelection(selection, frame_step, change_threshold, max_frames), depth_mm
        ),
        pseudonym_map=paths.pseudonym_map,
        manifests=ClipManifests(paths.manifests),
        split_file=paths.split_file,
    )
    report = ingest_source(clips, plan, s3_endpoint_url)
    if tasks and report.frames:
        token = os.environ.get("LABEL_STUDIO_API_TOKEN") or secrets.label_studio_token
        create_tasks(report, plan.store, label_studio_url, token)
    print_summary(report)
    if report.failures:
        raise typer.Exit(code=1)


if __name__ == "__main__":
    app()
