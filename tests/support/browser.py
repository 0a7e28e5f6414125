"""Headless Chromium for tests of what reviewers see: Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support.prerequisites import REPO_ROOT, missing

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


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)
    assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


def wait_for_texts(page, texts: list[str]) -> str:
    for text in texts:
        page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=90_000)
    return page.inner_text("body")  # visible text only: what display:none hides is not in it


def visible(locator, timeout: float = 15_000) -> bool:
    """Whether the locator's first match shows within ``timeout`` ms (the page is already loaded)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        locator.first.wait_for(state="visible", timeout=timeout)
    except PlaywrightTimeout:
        return False
    return True


def task_table(page) -> str:
    """The visible text of the Data Manager's task table (the left task list in the labeling view)."""
    table = page.locator(".lsf-table")
    table.first.wait_for(state="visible", timeout=90_000)
    return table.first.inner_text()
