"""Seen in a browser: Label Studio's labeling view shows what the bridge imported.

Headless Chromium from Debian's `chromium` package (make test installs it), driven by Playwright's
driver (`pip install playwright` brings the driver, not a browser). Screenshots go to
test-artifacts/, and the README shows copies of them from tests/screenshots/.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import REPO_ROOT, missing
from otel_label_studio import LabelStudioSpanExporter
from support import fixtures
from test_integration import deliver, tasks_of

pytestmark = pytest.mark.integration

ARTIFACTS = REPO_ROOT / "test-artifacts"


def chromium() -> str:
    path = (
        os.environ.get("OTEL_LS_TEST_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if path is None:
        message = "no Chromium: `make test` installs Debian's chromium package (apt-get install chromium)"
        missing(message)
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


def logged_in_page(browser, label_studio):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{label_studio.url}/user/login/")
    page.fill("input[name=email]", label_studio.email)
    page.fill("input[name=password]", label_studio.password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(lambda url: "/user/login" not in url, timeout=60_000)
    return page


def open_task(page, label_studio, project_id: int, task_id: int, expected: list[str], name: str) -> str:
    page.goto(f"{label_studio.url}/projects/{project_id}/data?task={task_id}")
    for text in expected:
        page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=90_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)
    return page.inner_text("body")


def test_prompt_and_chat_tasks_in_the_labeling_view(browser, label_studio, project_name):
    prompt_project, chat_project = f"{project_name}-prompt", f"{project_name}-chat"
    for title, mode, scenario in (
        (prompt_project, "prompt", "completion"),
        (chat_project, "chat", "multi_turn"),
    ):
        exporter = LabelStudioSpanExporter(
            url=label_studio.url, api_key=label_studio.pat, project_name=title, mode=mode
        )
        deliver(exporter, fixtures.load("legacy", scenario))
        exporter.shutdown()
    from label_studio_sdk import LabelStudio

    from test_integration import project_by_title

    ls = LabelStudio(base_url=label_studio.url, api_key=label_studio.legacy_token)
    page = logged_in_page(browser, label_studio)

    (prompt_task,) = tasks_of(ls, prompt_project)
    text = open_task(
        page,
        label_studio,
        project_by_title(ls, prompt_project).id,
        prompt_task.id,
        ["Tell me a joke", "Why did the chicken cross the road?"],
        "labeling-prompt-layout",
    )
    assert "Tell me a joke" in text and "Why did the chicken cross the road?" in text
    assert "undefined" not in text  # the prediction's tab is named by its model_version

    (chat_task,) = tasks_of(ls, chat_project)
    turns = [turn["content"] for turn in chat_task.data["prompt"]]
    response = chat_task.predictions[0].result[0]["value"]["text"][0]
    text = open_task(
        page,
        label_studio,
        project_by_title(ls, chat_project).id,
        chat_task.id,
        [turns[0], turns[-1], response],
        "labeling-chat-layout",
    )
    for turn in turns:
        assert turn in text, f"dialogue turn {turn!r} not on the page"
    assert response in text
    assert "undefined" not in text
    assert (ARTIFACTS / "labeling-prompt-layout.png").stat().st_size > 10_000
    assert (ARTIFACTS / "labeling-chat-layout.png").stat().st_size > 10_000
    page.close()


def test_the_readme_shows_the_screenshots():
    readme = (REPO_ROOT / "README.md").read_text()
    for name in ("labeling-prompt-layout", "labeling-chat-layout"):
        assert f"tests/screenshots/{name}.png" in readme
        assert (REPO_ROOT / "tests" / "screenshots" / f"{name}.png").exists()
    assert Path(REPO_ROOT / "test-artifacts").name in (REPO_ROOT / ".gitignore").read_text()
