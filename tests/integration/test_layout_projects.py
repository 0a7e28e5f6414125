"""How a layout's projects are made and met: an existing project whose config shows the prompt
another way, and the Data Manager tab a new project opens on (real Label Studio)."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.modes.dm_view import TASK_KEYS, review_view
from otel_label_studio.modes.layouts import CHAT_CONFIG, CONVERSATION_KEY, PROMPT_CONFIG, layout_for
from tests.support import fixtures
from tests.support.builders import record
from tests.support.label_studio_reads import project_by_title, tasks_of
from tests.support.pipelines import deliver, routed
from tests.support.proxy import LabelStudioProxy

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "mode, existing, prompt_type, says",
    [("chat", PROMPT_CONFIG, str, "as text"), ("prompt", CHAT_CONFIG, list, "as a dialogue")],
)
def test_a_mode_that_does_not_fit_an_existing_project_is_said_once(
    label_studio, ls, project_name, caplog, mode, existing, prompt_type, says
):
    """issue 13, item 10: mode="chat" pointed at a prompt-layout project made text prompts silently."""
    ls.projects.create(title=project_name, label_config=existing)
    caplog.set_level(logging.WARNING, logger="otel_label_studio")
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, mode=mode
    )
    for scenario in ("chat_system_human", "multi_turn"):
        exporter.export(fixtures.load("legacy", scenario))
        assert exporter.force_flush(30_000)
    deliver(exporter, fixtures.load("legacy", "completion"))
    exporter.shutdown()
    warnings = [r.getMessage() for r in caplog.records if "mode=" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert project_name in warnings[0] and f"mode={mode!r}" in warnings[0] and says in warnings[0]
    tasks = tasks_of(ls, project_name)
    assert len(tasks) == 3 and all(isinstance(t.data["prompt"], prompt_type) for t in tasks)


def views_of(ls, title: str) -> list[dict]:
    project = project_by_title(ls, title)
    assert project is not None, f"no project {title!r}"
    return [view.data for view in ls.views.list(project=project.id)]


def test_a_new_chat_project_opens_on_a_tab_without_the_raw_dialogue(label_studio, ls, project_name):
    """issue 13, item 11: the Data Manager showed the chat layout's dialogue list as raw JSON."""
    for mode in ("chat", "prompt"):
        exporter = LabelStudioSpanExporter(
            url=label_studio.url, api_key=label_studio.pat, project_name=f"{project_name}-{mode}", mode=mode
        )
        deliver(exporter, fixtures.load("legacy", "multi_turn"))
        exporter.shutdown()
    (view,) = views_of(ls, f"{project_name}-chat")
    explore, labeling = view["hiddenColumns"]["explore"], view["hiddenColumns"]["labeling"]
    assert "tasks:data.prompt" in explore and "tasks:data.prompt" in labeling
    assert "tasks:data.conversation" not in explore and "tasks:data.conversation" not in labeling
    # the rest as Label Studio's own Default: ids and trace fields in the table, not in the narrow list
    assert "tasks:data.trace_id" not in explore and "tasks:data.trace_id" in labeling
    assert "tasks:inner_id" in explore and "tasks:predictions_results" in explore
    assert "tasks:id" not in explore and "tasks:id" in labeling
    # a text prompt's project gets one too now (issue 25): the raw images list hidden, latency a number
    (view,) = views_of(ls, f"{project_name}-prompt")
    assert "tasks:data.images" in view["hiddenColumns"]["explore"]
    assert "tasks:data.prompt" not in view["hiddenColumns"]["explore"]
    assert view["columnsDisplayType"] == {"tasks:data.latency_ms": "Number"}


def test_a_tab_that_cannot_be_made_is_said_once_and_tasks_go_in(label_studio, ls, project_name, caplog):
    """The tab is presentation: Label Studio refusing it warns once and delivers all the same."""
    proxy = LabelStudioProxy(label_studio.url, failing_path="/api/dm/views")
    proxy.up()
    caplog.set_level(logging.WARNING, logger="otel_label_studio")
    try:
        exporter = LabelStudioSpanExporter(
            url=proxy.url, api_key=label_studio.pat, project_name=project_name, mode="chat"
        )
        other = f"{project_name}-other"
        deliver(exporter, fixtures.load("legacy", "multi_turn"))
        deliver(exporter, routed(fixtures.load("legacy", "chat_system_human"), other))
        exporter.shutdown()
    finally:
        proxy.close()
    assert proxy.failed_requests == 2  # one try per created project
    warnings = [r.getMessage() for r in caplog.records if "Data Manager tab" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert project_name in warnings[0] and "HTTP 500" in warnings[0]
    assert [r.levelname for r in caplog.records if "Data Manager tab" in r.getMessage()] == ["WARNING"]
    assert len(tasks_of(ls, project_name)) == 1 and len(tasks_of(ls, other)) == 1
    assert views_of(ls, project_name) == [] and views_of(ls, other) == []


def test_the_tab_knows_every_key_a_task_carries():
    """The labeling list hides the keys every task carries; a new key would show up there unnoticed."""
    chat = layout_for("chat", None)
    task = chat.task(replace(record(1), error="ValueError: boom"))
    assert set(task["data"]) - {chat.prompt_key, CONVERSATION_KEY} == set(TASK_KEYS)
    assert review_view(layout_for("prompt", None), []) is not None  # issue 25: a prompt project gets one
