"""Upload clips as de-identified frame tasks: ``python -m upload CLIPS_DIR [options]``.

Exits 1 when any clip failed; the other clips are stored and their tasks created all the same.
"""

import logging
import os
from pathlib import Path

import typer

from local_stack.paths import StackPaths
from local_stack.project import SpineProject
from local_stack.secrets_file import load_or_create
from upload.batch import UploadPlan, ingest_folder
from upload.frames import IngestSettings
from upload.manifest import ClipManifests
from upload.selection import FrameSelection, SelectionMode
from upload.storage import LocalFrameStore
from upload.summary import print_summary

app = typer.Typer(add_completion=False)


@app.command()
def main(
    clips_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder of clips."),
    state_dir: Path = typer.Option(Path("var"), help="Where frames, ledger and secrets live."),
    selection: SelectionMode = typer.Option(SelectionMode.EVERY_KTH, help="Which frames to keep."),
    frame_step: int = typer.Option(10, min=1, help="With 'every': keep every k-th frame."),
    change_threshold: float = typer.Option(6.0, min=0, help="With 'change': grey levels."),
    max_frames: int = typer.Option(200, min=1, help="Most frames kept per clip."),
    depth_mm: float = typer.Option(None, help="Imaging depth of videos without a sidecar."),
    label_studio_url: str = typer.Option("http://127.0.0.1:8080"),
    create_tasks: bool = typer.Option(True, help="Create Label Studio tasks for new frames."),
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    paths = StackPaths(state_dir)
    secrets, _ = load_or_create(paths.secrets)
    frame_selection = FrameSelection(selection, frame_step, change_threshold, max_frames)
    plan = UploadPlan(
        store=LocalFrameStore(paths.media_root),
        site_key=secrets.site_key,
        settings=IngestSettings(frame_selection, depth_mm),
        pseudonym_map=paths.pseudonym_map,
        manifests=ClipManifests(paths.manifests),
    )
    report = ingest_folder(clips_dir, plan)
    if create_tasks and report.frames:
        token = os.environ.get("LABEL_STUDIO_API_TOKEN") or secrets.label_studio_token
        SpineProject(label_studio_url, token).import_frames(report.frames, plan.store)
    print_summary(report)
    if report.failures:
        raise typer.Exit(code=1)


if __name__ == "__main__":
    app()
