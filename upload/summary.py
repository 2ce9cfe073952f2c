"""The table printed at the end of an upload: one row per clip, failures with their reason."""

from rich.console import Console
from rich.table import Table

from upload.batch import BatchReport


def summary_table(report: BatchReport) -> Table:
    table = Table(title="Upload summary")
    for column in ("file", "clip", "frames decoded", "frames kept", "blanked"):
        table.add_column(column, no_wrap=column in ("file", "clip"))
    table.add_column("status", overflow="fold")
    for clip in report.clips:
        blanked = f"{clip.blanked_share:.0%}" if clip.blanked_share is not None else "-"
        status = (
            f"FAILED: {clip.error}"
            if clip.error
            else ("already stored" if clip.reused else "stored")
        )
        table.add_row(
            clip.source.name,
            clip.clip_id or "-",
            str(clip.frames_decoded),
            str(len(clip.frames)),
            blanked,
            status,
        )
    return table


def print_summary(report: BatchReport, console: Console | None = None) -> None:
    console = console or Console(stderr=True)
    console.print(summary_table(report))
    failed = len(report.failures)
    reused = sum(clip.reused for clip in report.clips)
    console.print(
        f"{len(report.clips)} clips, {failed} failed, {reused} already stored, "
        f"{len(report.frames)} frames stored"
    )
