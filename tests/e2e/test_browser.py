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


def wait_for_listing(page, outliner, count: int, timeout_s: float = 30.0) -> list[str]:
    """The outliner's texts once it lists ``count`` regions, or whatever it lists at timeout."""
    for _ in range(int(timeout_s * 2)):
        if outliner.count() >= count:
            break
        page.wait_for_timeout(500)
    return outliner.all_inner_texts()


def brush_labels(task: dict) -> list[str]:
    results = task["predictions"][0]["result"]
    return [r["value"]["brushlabels"][0] for r in results if r["type"] == "brushlabels"]


def most_labelled_task(stack) -> tuple[dict, list[str]]:
    phantom = [t for t in stack.tasks() if t["data"]["view"] != "unknown"]
    best = max(phantom, key=lambda t: len(brush_labels(t)))
    return best, brush_labels(best)


def test_prelabelled_regions_are_listed_in_the_labeling_ui(stack, browser):
    task, labels = most_labelled_task(stack)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(stack.label_studio_url + "/user/login/")
    page.fill("input[name=email]", stack.secrets.label_studio_username)
    page.fill("input[name=password]", stack.secrets.label_studio_password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/user/login" not in url)
    page.goto(f"{stack.label_studio_url}/projects/{task['project']}/data?task={task['id']}")
    outliner = page.locator(".lsf-outliner-item")
    outliner.first.wait_for(timeout=60_000)
    listed = wait_for_listing(page, outliner, len(labels))

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
