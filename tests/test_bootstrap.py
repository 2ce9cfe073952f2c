"""Project set-up credentials for a container deployment come from the environment."""

import pytest
import typer

from local_stack.bootstrap import ENVIRONMENT_NAMES, EnvironmentCredentials


def test_every_credential_is_read_from_the_environment(monkeypatch):
    for name in ENVIRONMENT_NAMES:
        monkeypatch.setenv(name, f"value-of-{name}")

    credentials = EnvironmentCredentials.read()

    assert credentials.label_studio_token == "value-of-LABEL_STUDIO_API_TOKEN"
    assert credentials.backend_username == "value-of-BACKEND_USERNAME"
    assert credentials.backend_password == "value-of-BACKEND_PASSWORD"
    assert credentials.webhook_secret == "value-of-BACKEND_WEBHOOK_SECRET"


def test_a_missing_or_empty_credential_is_named(monkeypatch):
    for name in ENVIRONMENT_NAMES:
        monkeypatch.setenv(name, "x")
    monkeypatch.delenv("BACKEND_PASSWORD")
    monkeypatch.setenv("BACKEND_WEBHOOK_SECRET", "")

    with pytest.raises(typer.BadParameter, match="BACKEND_PASSWORD, BACKEND_WEBHOOK_SECRET"):
        EnvironmentCredentials.read()
