"""Set up the Label Studio projects on a running stack: ``python -m local_stack.bootstrap``.

Idempotent: one project per view with its labeling config and instructions, tasks served by
prediction score (least certain first), a share of tasks for two clinicians, the ML backend
with authentication and its webhook secret, and the local frame storage.
"""

from pathlib import Path

import typer

from local_stack.logging_setup import configure_logging
from local_stack.paths import StackPaths
from local_stack.project import ProjectSettings, SpineProjects
from local_stack.secrets_file import load_or_create

app = typer.Typer(add_completion=False)


@app.command()
def main(
    state_dir: Path = typer.Option(Path("var"), help="Where secrets and frames live."),
    label_studio_url: str = typer.Option("http://127.0.0.1:8080"),
    backend_url: str = typer.Option("http://127.0.0.1:9090"),
    overlap_percent: int = typer.Option(20, min=0, max=100, help="Tasks for two clinicians."),
) -> None:
    configure_logging()
    paths = StackPaths(state_dir)
    secrets, _ = load_or_create(paths.secrets)
    projects = SpineProjects(
        label_studio_url, secrets.label_studio_token, ProjectSettings(overlap_percent)
    )
    projects.set_up(backend_url, secrets, paths.frames_dir)
    for project in projects:
        print(f"{project.title}: {label_studio_url}/projects/{project.id}")


if __name__ == "__main__":
    app()
