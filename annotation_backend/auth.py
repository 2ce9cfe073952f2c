"""Authentication of Label Studio's calls: HTTP Basic, or the webhook secret header."""

import secrets

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from annotation_backend.settings import BackendSettings

WEBHOOK_SECRET_HEADER = "X-Webhook-Secret"

_basic = HTTPBasic(auto_error=False)


def _settings(request: Request) -> BackendSettings:
    return request.app.state.settings


def _basic_auth_matches(
    credentials: HTTPBasicCredentials | None, settings: BackendSettings
) -> bool:
    if credentials is None:
        return False
    user_ok = secrets.compare_digest(credentials.username.encode(), settings.username.encode())
    password = settings.password.get_secret_value().encode()
    password_ok = secrets.compare_digest(credentials.password.encode(), password)
    return user_ok and password_ok


def _unauthorised() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="missing or wrong credentials",
        headers={"WWW-Authenticate": "Basic"},
    )


def require_basic_auth(
    credentials: HTTPBasicCredentials | None = Depends(_basic),
    settings: BackendSettings = Depends(_settings),
) -> None:
    if not _basic_auth_matches(credentials, settings):
        raise _unauthorised()


def require_webhook_auth(
    request: Request,
    credentials: HTTPBasicCredentials | None = Depends(_basic),
    settings: BackendSettings = Depends(_settings),
) -> None:
    """Label Studio sends Basic auth on START_TRAINING but only custom headers on other events."""
    if _basic_auth_matches(credentials, settings):
        return
    presented = request.headers.get(WEBHOOK_SECRET_HEADER, "").encode()
    expected = settings.webhook_secret.get_secret_value().encode()
    if not presented or not secrets.compare_digest(presented, expected):
        raise _unauthorised()
