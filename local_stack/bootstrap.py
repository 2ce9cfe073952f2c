"""Set up the Label Studio projects on a running stack: ``python -m local_stack.bootstrap``.

Idempotent: one project per view with its labeling config and instructions, tasks served by
prediction score (least certain first), a share of tasks for two clinicians, the ML backend
with authentication and its webhook secret, and the local frame storage.

The credentials come from ``STATE_DIR/secrets.json`` (what ``make run`` generates) or, with
``--from-environment`` as in a container deployment, from LABEL_STUDIO_API_TOKEN,
BACKEND_USERNAME, BACKEND_PASSWORD and BACKEND_WEBHOOK_SECRET; a missing one is an error.
Frames in S3 need no local storage: ``--no-local-frames``.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import typer

from local_stack.logging_setup import configure_logging
from local_stack.paths import StackPaths
from local_stack.project import ProjectSettings, SpineProjects
from local_stack.secrets_file import load_or_create

app = typer.Typer(add_completion=False)

ENVIRONMENT_NAMES = (
    "LABEL_STUDIO_API_TOKEN",
    "BACKEND_USERNAME",
    "BACKEND_PASSWORD",
    "BACKEND_WEBHOOK_SECRET",
)


@dataclass(frozen=True)
class EnvironmentCredentials:
    label_studio_token: str
    backend_username: str
    backend_password: str
    webhook_secret: str

    @classmethod
    def read(cls) -> "EnvironmentCredentials":
        missing = [name for name in ENVIRONMENT_NAMES if not os.environ.get(name)]
        if missing:
            raise typer.BadParameter(
                f"set {', '.join(missing)} in the environment", param_hint="--from-environment"
            )
        return cls(*(os.environ[name] for name in ENVIRONMENT_NAMES))


@app.command()
def main(
    state_dir: Path = typer.Option(Path("var"), help="Where secrets and frames live."),
    label_studio_url: str = typer.Option("http://127.0.0.1:8080"),
    backend_url: str = typer.Option("http://127.0.0.1:9090"),
    overlap_percent: int = typer.Option(20, min=0, max=100, help="Tasks for two clinicians."),
    from_environment: bool = typer.Option(False, help="Credentials from the environment."),
    local_frames: bool = typer.Option(True, help="Register STATE_DIR's local frame storage."),
) -> None:
    configure_logging()
    paths = StackPaths(state_dir)
    secrets = (
        EnvironmentCredentials.read() if from_environment else load_or_create(paths.secrets)[0]
    )
    projects = SpineProjects(
        label_studio_url, secrets.label_studio_token, ProjectSettings(overlap_percent)
    )
    projects.set_up(backend_url, secrets, paths.frames_dir if local_frames else None)
    for project in projects:
        print(f"{project.title}: {label_studio_url}/projects/{project.id}")


if __name__ == "__main__":
    app()
