"""Export the gold standard: ``python -m training.export --label-studio-url ... --token-file ...
--out ... --version ...``; with no ``--project``, every project the token can see. With
``--publish``, the gold standard is also posted to its tasks as predictions for review.

Every export, succeeded or failed, is recorded in the export audit log (who, when, what, the
outcome): in the backend's state database when ``--database-url`` or ``BACKEND_DATABASE_URL``
names one, else in ``<out>/export-audit.jsonl``. ``python -m training.export.audit`` lists it."""

import math
from pathlib import Path

import typer
from label_studio_sdk import LabelStudio
from sqlalchemy.exc import SQLAlchemyError

from local_stack.logging_setup import configure_logging
from training.export.audit_log import AUDIT_FILE_NAME, audited_export, open_audit_log
from training.export.errors import ExportError
from training.export.publish import publish_gold_standard
from training.export.writer import ExportSummary

ADJUDICATION_SHOWN = 10


def main(
    label_studio_url: str = typer.Option(..., help="Base URL, e.g. http://127.0.0.1:8080."),
    token_file: Path = typer.Option(..., exists=True, dir_okay=False, help="File with the token."),
    out: Path = typer.Option(..., help="Folder that receives gold-standard-<version>/."),
    version: str = typer.Option(..., help="Version of this export, e.g. 2025-06-v1."),
    project: list[int] = typer.Option([], help="Project id; repeat for several."),
    publish: bool = typer.Option(False, help="Post the gold standard back as predictions."),
    database_url: str | None = typer.Option(
        None,
        envvar="BACKEND_DATABASE_URL",
        help=(
            "The backend's state database (SQLAlchemy URL) that keeps the export audit log, "
            f"table export_audit. Without one, the log is <out>/{AUDIT_FILE_NAME}. Either way "
            "every export, succeeded or failed, is recorded: who (OS account and the token's "
            "Label Studio account), when (UTC), what (projects, task and annotation counts, "
            "destination, checksums of manifest.csv and SHA256SUMS) and the outcome. Read it "
            "with: python -m training.export.audit."
        ),
        show_default=False,
    ),
) -> None:
    """Export the gold standard of every submitted annotation; each export, succeeded or
    failed, is recorded in the export audit log (see --database-url)."""
    configure_logging()
    try:
        audit_log = open_audit_log(database_url, out)
    except (SQLAlchemyError, OSError) as error:
        typer.echo(f"export refused: the audit log cannot be opened ({error})", err=True)
        raise typer.Exit(code=2) from error
    token = token_file.read_text(encoding="utf-8").strip()
    client = LabelStudio(base_url=label_studio_url, api_key=token, timeout=600)
    try:
        summary = audited_export(
            client,
            project,
            out,
            version=version,
            audit_log=audit_log,
            label_studio_url=label_studio_url,
        )
    except ExportError as error:
        typer.echo(f"export failed: {error}", err=True)
        raise typer.Exit(code=1) from error
    finally:
        audit_log.close()
    _print_summary(summary)
    typer.echo(f"recorded in the export audit log: {audit_log.location}")
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
