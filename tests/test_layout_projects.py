"""A layout meets an existing project whose config shows the prompt another way (real Label Studio)."""

from __future__ import annotations

import logging

import pytest

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.layouts import CHAT_CONFIG, PROMPT_CONFIG
from support import fixtures
from test_integration import deliver, tasks_of

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
