"""Seen in a browser: Label Studio's labeling view shows what the bridge imported.

Headless Chromium from Debian's `chromium` package (make test installs it), driven by Playwright's
driver (`pip install playwright` brings the driver, not a browser). Screenshots go to
test-artifacts/, and README.md and docs/modes.md show copies of them from tests/screenshots/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_label_studio import LabelStudioSpanExporter
from tests.support import fixtures
from tests.support.browser import (  # noqa: F401
    ARTIFACTS,
    logged_in_page,
    screenshot,
    task_table,
    visible,
    wait_for_texts,
)
from tests.support.label_studio_reads import project_by_title, tasks_of
from tests.support.pipelines import deliver
from tests.support.prerequisites import REPO_ROOT

pytestmark = pytest.mark.integration

# The same conversation in both layouts (legacy fixture "multi_turn").
TURNS = ["You are a comedian.", "Tell me a joke", "Why did the chicken cross the road?", "I don't know, why?"]
RESPONSE = "Because it was ready to move on."
RAW_DIALOGUE = '{"role"'  # how Label Studio shows a list-valued field: one line of JSON


@pytest.mark.parametrize(
    "mode, header, readable_column, readable_text",
    [
        ("prompt", "Response:", "prompt", "system: You are a comedian."),
        ("chat", "Final response:", "conversation", "system: You are a comedian."),
    ],
)
def test_what_a_reviewer_sees(
    browser, label_studio, ls, project_name, mode, header, readable_column, readable_text
):
    """The labeling view and the Data Manager of each layout read well (issue 13, item 11)."""
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, mode=mode
    )
    deliver(exporter, fixtures.load("legacy", "multi_turn"))
    exporter.shutdown()
    (task,) = tasks_of(ls, project_name)
    project_id = project_by_title(ls, project_name).id
    page = logged_in_page(browser, label_studio)

    page.goto(f"{label_studio.url}/projects/{project_id}/data?task={task.id}")
    wait_for_texts(page, [TURNS[0], TURNS[-1], RESPONSE])
    page.wait_for_load_state("networkidle")  # the editor may mount twice: let it settle
    text = wait_for_texts(page, [TURNS[0], TURNS[-1], RESPONSE])
    assert visible(page.get_by_text(header, exact=True)), f"no {header!r} above the response"
    screenshot(page, f"labeling-{mode}-layout")
    for turn in TURNS:
        assert turn in text, f"dialogue turn {turn!r} not on the page"
    # the response is in the box a reviewer types a correction into (issue 25): a textarea's value
    boxes = page.locator("textarea").evaluate_all("boxes => boxes.map(b => b.value)")
    assert RESPONSE in text or RESPONSE in boxes
    assert "00:00:00" not in text  # no timing controls on text turns
    assert "undefined" not in text  # the prediction's tab is named by its model_version
    task_list = task_table(page)
    assert RAW_DIALOGUE not in task_list, f"the task list shows the dialogue as JSON: {task_list!r}"
    assert readable_text in task_list, f"the task list does not show the dialogue as text: {task_list!r}"

    page.goto(f"{label_studio.url}/projects/{project_id}/data")
    page.get_by_text("trace_id", exact=True).first.wait_for(state="visible", timeout=90_000)
    page.get_by_text(TURNS[0], exact=False).first.wait_for(state="visible", timeout=90_000)  # rows in
    page.wait_for_load_state("networkidle")
    assert visible(page.get_by_text(readable_column, exact=True)), f"no {readable_column} column"
    cells = page.get_by_text(readable_text, exact=False)
    assert visible(cells) and cells.count() == 1, "the dialogue is not readable in the table"
    table = task_table(page)
    assert RAW_DIALOGUE not in table, f"the Data Manager shows the dialogue as JSON: {table!r}"
    # the Data Manager opened on one tab: the bridge's own, or Label Studio's Default, not both
    views = list(ls.views.list(project=project_id))
    assert len(views) == 1, [view.data.get("title") for view in views]
    screenshot(page, f"data-manager-{mode}-layout")
    page.close()


def test_the_docs_show_the_screenshots():
    """README.md shows the labeling views from tests/screenshots/, docs/modes.md every one of these
    (docs/screenshots is a link to tests/screenshots, so the site has them too)."""
    readme = (REPO_ROOT / "README.md").read_text()
    modes = (REPO_ROOT / "docs" / "modes.md").read_text()
    for name in (
        "labeling-prompt-layout",
        "labeling-chat-layout",
        "data-manager-prompt-layout",
        "data-manager-chat-layout",
    ):
        assert f"](screenshots/{name}.png)" in modes
        if name.startswith("labeling-"):
            assert f"](tests/screenshots/{name}.png)" in readme
        assert (REPO_ROOT / "tests" / "screenshots" / f"{name}.png").exists()
    assert Path(REPO_ROOT / "test-artifacts").name in (REPO_ROOT / ".gitignore").read_text()
