"""A clinician's view: headless Chromium logs in and opens a pre-labelled frame."""

import shutil
from pathlib import Path

import pytest

from label_config import STRUCTURES

pytestmark = [pytest.mark.label_studio, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: `make test` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def most_labelled_task(stack) -> tuple[int, list[str]]:
    tasks = stack.project.client.tasks.list(project=stack.project.id, fields="all")
    phantom = [t.model_dump() for t in tasks if t.data["view"] != "unknown"]
    best = max(phantom, key=lambda t: len(t["predictions"][0]["result"]))
    labels = [r["value"]["brushlabels"][0] for r in best["predictions"][0]["result"]]
    return best["id"], labels


def test_prelabelled_regions_are_listed_in_the_labeling_ui(stack, browser):
    task_id, labels = most_labelled_task(stack)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(stack.label_studio_url + "/user/login/")
    page.fill("input[name=email]", stack.secrets.label_studio_username)
    page.fill("input[name=password]", stack.secrets.label_studio_password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/user/login" not in url)
    page.goto(f"{stack.label_studio_url}/projects/{stack.project.id}/data?task={task_id}")
    outliner = page.locator(".lsf-outliner-item, [class*=outliner] [class*=item]")
    outliner.first.wait_for(timeout=60_000)
    listed = outliner.all_inner_texts()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "prelabelled-task.png"))
    assert labels, "the model drew no region on its most labelled frame"
    for label in labels:
        assert any(label in text for text in listed), f"{label!r} not listed in {listed}"
    assert {s.label for s in STRUCTURES} >= set(labels)
    elsewhere = [
        u for u in requested if not u.startswith((stack.label_studio_url, "data:", "blob:"))
    ]
    assert elsewhere == [], "the labeling UI must not call any host but Label Studio"
