"""Every route of the real app refuses callers without the right credentials.

Routes are enumerated from ``app.routes``, so a route added later is covered without editing this
file; only ``/health`` is open, and it must reveal nothing about the credentials.
"""

import base64
import hashlib
import hmac
import secrets

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import ValidationError

from annotation_backend import auth
from annotation_backend.app import create_app
from annotation_backend.auth import WEBHOOK_SECRET_HEADER
from annotation_backend.settings import BackendSettings
from tests.security.conftest import LABEL_STUDIO_TOKEN, PASSWORD, USER, WEBHOOK_SECRET

OPEN_ROUTES = {("GET", "/health")}
BODIES = {"/setup": {}, "/predict": {"tasks": []}, "/webhook": {"action": "ANNOTATION_CREATED"}}


def basic(username: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


GOOD = basic(USER, PASSWORD)
REFUSED_HEADERS = {
    "no credentials": {},
    "wrong username": basic("admin", PASSWORD),
    "wrong password": basic(USER, PASSWORD + "x"),
    "password as username": basic(PASSWORD, USER),
    "empty password": basic(USER, ""),
    "scheme without value": {"Authorization": "Basic"},
    "not base64": {"Authorization": "Basic !!!%%%"},
    "no colon": {"Authorization": "Basic " + base64.b64encode(USER.encode()).decode()},
    "bearer password": {"Authorization": f"Bearer {PASSWORD}"},
    "token scheme": {"Authorization": f"Token {LABEL_STUDIO_TOKEN}"},
    "trailing garbage": {"Authorization": GOOD["Authorization"] + "x" * 3},
    "webhook secret as password": basic(USER, WEBHOOK_SECRET),
}


def routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route; any other kind of route fails the test, unchecked."""
    found = []
    for route in app.routes:
        assert isinstance(route, APIRoute), f"{route!r} is not an APIRoute: check it here"
        found += [(method, route.path) for method in sorted(route.methods)]
    return found


@pytest.fixture()
def guarded(settings) -> list[tuple[str, str]]:
    every = routes(create_app(settings))
    assert OPEN_ROUTES <= set(every)
    return [route for route in every if route not in OPEN_ROUTES]


def call(client: TestClient, method: str, path: str, headers: dict, body=None):
    if method == "GET":
        return client.get(path, headers=headers)
    return client.request(
        method,
        path,
        json=BODIES.get(path, {}) if body is None else None,
        content=body,
        headers=headers,
    )


def test_the_app_serves_no_schema_or_docs_pages(settings):
    paths = {path for _, path in routes(create_app(settings))}

    assert paths == {"/health", "/setup", "/predict", "/webhook", "/versions"}


def test_every_guarded_route_answers_its_owner(client, guarded):
    for method, path in guarded:
        response = call(client, method, path, GOOD)

        assert response.status_code == 200, (method, path, response.text)


@pytest.mark.parametrize("case", sorted(REFUSED_HEADERS))
def test_every_guarded_route_refuses_wrong_credentials_with_401(client, guarded, case):
    for method, path in guarded:
        response = call(client, method, path, REFUSED_HEADERS[case])

        assert response.status_code == 401, (case, method, path, response.text)
        assert response.headers["WWW-Authenticate"] == "Basic"
        assert PASSWORD not in response.text and WEBHOOK_SECRET not in response.text


def test_a_body_is_not_parsed_before_the_caller_is_authenticated(client, guarded):
    for method, path in guarded:
        if method == "GET":
            continue
        refused = call(client, method, path, {}, body=b"{not json")
        owner = call(client, method, path, GOOD, body=b"{not json")

        assert refused.status_code == 401, (path, refused.text)
        assert owner.status_code == (200 if path == "/webhook" else 422), (path, owner.text)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {WEBHOOK_SECRET_HEADER: ""},
        {WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET + "x"},
        {WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET[:-1]},
        {WEBHOOK_SECRET_HEADER: PASSWORD},
        {"X-Webhook-Token": WEBHOOK_SECRET},
        basic(USER, WEBHOOK_SECRET),
    ],
    ids=["none", "empty", "longer", "prefix", "password", "other header", "as basic password"],
)
def test_the_webhook_refuses_a_missing_or_wrong_secret(client, headers):
    response = client.post("/webhook", json=BODIES["/webhook"], headers=headers)

    assert response.status_code == 401


def test_the_webhook_accepts_its_secret_header(client):
    response = client.post(
        "/webhook", json=BODIES["/webhook"], headers={WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET}
    )

    assert response.status_code == 200


def derived_forms(value: str) -> set[str]:
    raw = value.encode()
    return {
        value,
        base64.b64encode(raw).decode(),
        raw.hex(),
        hashlib.sha256(raw).hexdigest(),
        hashlib.md5(raw).hexdigest(),
        hashlib.sha1(raw).hexdigest(),
    }


def test_health_reveals_no_form_of_any_credential(client, settings):
    secret_values = [USER, PASSWORD, WEBHOOK_SECRET, LABEL_STUDIO_TOKEN, f"{USER}:{PASSWORD}"]
    forbidden = set().union(*(derived_forms(v) for v in secret_values))
    forbidden |= {str(settings.model_store), str(settings.media_root), settings.database_url}

    answers = [client.get("/health", headers=h) for h in ({}, GOOD, basic(USER, "x"))]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].content == answers[1].content == answers[2].content
    exposed = answers[0].text + " ".join(f"{k}: {v}" for k, v in answers[0].headers.items())
    assert [form for form in forbidden if form in exposed] == []
    assert set(answers[0].json()) == {"status", "model_class"}


class CompareDigestSpy:
    """Stands in for ``compare_digest`` wherever auth could reach it, and records each call."""

    def __init__(self, answer: bool | None = None):
        self.answer = answer
        self.calls: list[tuple[bytes, bytes]] = []

    def __call__(self, presented, expected) -> bool:
        self.calls.append((presented, expected))
        if self.answer is None:
            return ORIGINAL_COMPARE_DIGEST(presented, expected)
        return self.answer


ORIGINAL_COMPARE_DIGEST = hmac.compare_digest


def install(spy: CompareDigestSpy, monkeypatch) -> None:
    for module in (hmac, secrets, auth):
        for name, value in list(vars(module).items()):
            if value is ORIGINAL_COMPARE_DIGEST:
                monkeypatch.setattr(module, name, spy)


def test_credentials_are_compared_with_compare_digest_even_when_the_username_is_wrong(
    client, monkeypatch
):
    spy = CompareDigestSpy()
    install(spy, monkeypatch)

    refused = client.post("/setup", json={}, headers=basic("admin", PASSWORD))

    assert refused.status_code == 401
    assert (b"admin", USER.encode()) in spy.calls
    assert (PASSWORD.encode(), PASSWORD.encode()) in spy.calls


def test_the_webhook_secret_is_compared_with_compare_digest(client, monkeypatch):
    spy = CompareDigestSpy()
    install(spy, monkeypatch)

    client.post("/webhook", json={}, headers={WEBHOOK_SECRET_HEADER: "guess"})

    assert (b"guess", WEBHOOK_SECRET.encode()) in spy.calls


@pytest.mark.parametrize("answer", [False, True])
def test_compare_digest_alone_decides_who_gets_in(client, monkeypatch, answer):
    install(CompareDigestSpy(answer), monkeypatch)
    presented = GOOD if not answer else basic("admin", "guess")

    statuses = {
        path: client.post(path, json=BODIES[path], headers=presented).status_code
        for path in ("/setup", "/predict")
    }
    hook = client.post("/webhook", json={}, headers={WEBHOOK_SECRET_HEADER: WEBHOOK_SECRET})

    expected = 200 if answer else 401
    assert statuses == {"/setup": expected, "/predict": expected}
    assert hook.status_code == expected


@pytest.mark.parametrize("field", ["password", "webhook_secret"])
@pytest.mark.parametrize("value", ["", "short"])
def test_an_empty_or_short_secret_is_refused_at_start(tmp_path, field, value):
    given = {
        "username": "label-studio",
        "password": "long-enough-pass",
        "webhook_secret": "long-enough-hook",
    }
    given[field] = value

    with pytest.raises(ValidationError, match=field):
        BackendSettings(model_store=tmp_path, **given)
