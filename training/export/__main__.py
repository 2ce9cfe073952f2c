"""Export the gold standard: ``python -m training.export --label-studio-url ... --token-file ...
--out ... --version ...``; with no ``--project``, every project the token can see. With
``--publish``, the gold standard is also posted to its tasks as predictions for review."""

import math
from pathlib import Path

import typer
from label_studio_sdk import LabelStudio

from local_stack.logging_setup import configure_logging
from training.export.errors import ExportError
from training.export.publish import publish_gold_standard
from training.export.writer import ExportSummary, export_gold_standard

ADJUDICATION_SHOWN = 10


def main(
    label_studio_url: str = typer.Option(..., help="Base URL, e.g. http://127.0.0.1:8080."),
    token_file: Path = typer.Option(..., exists=True, dir_okay=False, help="File with the token."),
    out: Path = typer.Option(..., help="Folder that receives gold-standard-<version>/."),
    version: str = typer.Option(..., help="Version of this export, e.g. 2025-06-v1."),
    project: list[int] = typer.Option([], help="Project id; repeat for several."),
    publish: bool = typer.Option(False, help="Post the gold standard back as predictions."),
) -> None:
    configure_logging()
    token = token_file.read_text(encoding="utf-8").strip()
    client = LabelStudio(base_url=label_studio_url, api_key=token, timeout=600)
    project_ids = project or sorted(p.id for p in client.projects.list())
    try:
        summary = export_gold_standard(client, project_ids, out, version=version)
    except ExportError as error:
        typer.echo(f"export failed: {error}", err=True)
        raise typer.Exit(code=1) from error
    _print_summary(summary)
    if publish:
        posted = publish_gold_standard(client, summary.folder)
        typer.echo(f"posted {posted} gold frames as predictions of {summary.folder.name}")


def _print_summary(summary: ExportSummary) -> None:
    typer.echo(
        f"wrote {summary.folder}: {summary.frames} frames, {summary.clips} clips, "
        f"{summary.consensus_frames} by consensus"
    )
    for kappa in summary.kappas:
        typer.echo(
            f"kappa {kappa.choice} {kappa.first} vs {kappa.second}: {_number(kappa.kappa)} "
            f"over {kappa.n_frames} frames"
        )
    for agreement in summary.adjudication[:ADJUDICATION_SHOWN]:
        typer.echo(f"adjudicate task {agreement.task_id}: mean Dice {_number(agreement.mean_dice)}")


def _number(value: float) -> str:
    return "undefined" if math.isnan(value) else f"{value:.3f}"


if __name__ == "__main__":
    typer.run(main)
