"""The Data Manager of prompt, chat and pairwise projects, and the pairwise choice (issue 25): no raw
JSON column, the columns a reviewer sorts by first and typed as numbers; Tie / Both bad as one radio
control; projects made with the configs before it still bind and read the same."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from otel_label_studio.analysis.datasets import Binding
from otel_label_studio.modes.dm_view import data_column, needs_tab, view_for
from otel_label_studio.modes.layouts import CHAT_CONFIG, PROMPT_CONFIG, Layout, layout_for
from otel_label_studio.modes.pair_layout import PAIRWISE_CONFIG, PairLayout
from otel_label_studio.modes.pairs import BOTH_BAD, TIE, B, choice_of
from tests.support.builders import record
from tests.support.configs_before_25 import (
    CHAT_CONFIG_BEFORE_25,
    PAIRWISE_CONFIG_BEFORE_25,
    PROMPT_CONFIG_BEFORE_25,
)

# Label Studio 1.23's own default visibility, as /api/dm/columns says it (a few of its columns).
COLUMNS = [
    {"id": "id", "target": "tasks", "visibility_defaults": {"explore": True, "labeling": False}},
    {"id": "inner_id", "target": "tasks", "visibility_defaults": {"explore": False, "labeling": False}},
]


def data_columns_in_order(label_config: str) -> list[str]:
    """The task keys Label Studio 1.23 lists first in the Data Manager, in order: every tag with a
    name and a ``$variable`` value (``label_studio.core.label_config.extract_data_types``)."""
    found = []
    for tag in ElementTree.fromstring(label_config.strip()).iter():
        value = tag.get("value") or ""
        if tag.get("name") and value.startswith("$") and value[1:] not in found:
            found.append(value[1:])
    return found


def test_prompt_and_chat_tables_lead_with_model_and_latency():
    assert data_columns_in_order(CHAT_CONFIG)[:3] == ["model", "latency_ms", "prompt"]
    assert data_columns_in_order(PROMPT_CONFIG)[:3] == ["model", "latency_ms", "prompt"]
    # declared in a View nobody sees: not on the labeling page
    hidden = ElementTree.fromstring(CHAT_CONFIG.strip()).find("View[@style='display: none']")
    assert hidden is not None and [h.get("value") for h in hidden] == ["$model", "$latency_ms"]


@pytest.mark.parametrize("config", [CHAT_CONFIG, PROMPT_CONFIG])
def test_a_prompt_or_chat_project_s_tab(config):
    layout = Layout.from_config(config)
    assert needs_tab(layout)
    view = view_for(layout, COLUMNS)
    assert view is not None
    explore, labeling = view["hiddenColumns"]["explore"], view["hiddenColumns"]["labeling"]
    readable = "conversation" if layout.dialogue else "prompt"
    # no raw JSON: the dialogue list and the images list in neither
    for raw in (["prompt"] if layout.dialogue else []) + ["images"]:
        assert data_column(raw) in explore and data_column(raw) in labeling, raw
    # the table: the prompt as text, model and latency; the narrow task list: the prompt only
    for shown in (readable, "model", "latency_ms"):
        assert data_column(shown) not in explore, shown
    assert data_column(readable) not in labeling
    for key in ("model", "latency_ms", "trace_id", "span_id", "provider", "service_name", "error"):
        assert data_column(key) in labeling, key
    assert "tasks:inner_id" in explore and "tasks:id" in labeling  # Label Studio's own defaults kept
    assert view["columnsDisplayType"] == {data_column("latency_ms"): "Number"}


def chat_record():
    timed = record(1)
    timed.start_time_unix_nano, timed.end_time_unix_nano = 1_000_000, 3_500_000
    return timed


def test_a_task_s_latency_is_a_number_and_its_model_a_string():
    for mode in ("prompt", "chat"):
        data = layout_for(mode, None).task(chat_record())["data"]
        assert (data["model"], data["latency_ms"]) == ("gpt-x", 3)


def test_the_pairwise_table_leads_with_the_question():
    assert data_columns_in_order(PAIRWISE_CONFIG)[:4] == ["conversation", "prompt", "answer_a", "answer_b"]
    layout = PairLayout.from_config(PAIRWISE_CONFIG)
    assert layout.prompt_key == "prompt" and layout.dialogue  # the hidden column is not the prompt object
    view = view_for(layout, COLUMNS)
    assert view is not None and data_column("conversation") not in view["hiddenColumns"]["explore"]
    assert data_column("prompt") in view["hiddenColumns"]["explore"]  # the raw list


def test_tie_and_both_bad_are_radio_buttons_of_one_control():
    root = ElementTree.fromstring(PAIRWISE_CONFIG.strip())
    (choices,) = root.iter("Choices")
    assert choices.get("choice") == "single-radio"
    assert [c.get("value") for c in choices] == ["Tie", "Both bad"]
    (pairwise,) = root.iter("Pairwise")
    assert pairwise.get("selectionStyle") is None  # Label Studio's class marks the side the CSS styles


@pytest.mark.parametrize("config", [PAIRWISE_CONFIG, PAIRWISE_CONFIG_BEFORE_25])
def test_a_pair_choice_reads_the_same_from_both_configs(config):
    layout = PairLayout.from_config(config)
    assert (layout.pairwise_name, layout.answer_keys, layout.verdict_name) == (
        "choice",
        ("answer_a", "answer_b"),
        "verdict",
    )
    assert layout.correction_names == ("correction_a", "correction_b")
    side = {"from_name": "choice", "to_name": "answer_a", "type": "pairwise", "value": {"selected": "right"}}

    def verdict(label: str) -> dict:
        return {
            "from_name": "verdict",
            "to_name": "dialogue",
            "type": "choices",
            "value": {"choices": [label]},
        }

    assert choice_of([side], layout.pairwise_name) == B
    assert choice_of([side, verdict("Tie")], layout.pairwise_name) == TIE
    assert choice_of([verdict("Both bad")], layout.pairwise_name) == BOTH_BAD


@pytest.mark.parametrize(
    "config, mode", [(PROMPT_CONFIG_BEFORE_25, "prompt"), (CHAT_CONFIG_BEFORE_25, "chat")]
)
def test_a_project_made_before_still_binds_and_gets_what_it_reads(config, mode):
    old, new = Layout.from_config(config), layout_for(mode, None)
    # the reviewer's Rating as export and report read it by name (a layout binds none since issue 25's judge
    # verdicts: no judge fills it)
    old_rating, new_rating = (Binding.from_config(c).rating_name for c in (config, new.label_config))
    assert (old.response_name, old.target_name, old.prompt_key, old.dialogue, old_rating) == (
        new.response_name,
        new.target_name,
        new.prompt_key,
        new.dialogue,
        new_rating,
    )
    task = old.task(chat_record())
    assert set(old.variables) <= set(task["data"])
    assert task["predictions"][-1] == new.task(chat_record())["predictions"][-1]  # the same answer
    view = view_for(old, COLUMNS)  # a tab made for it now (its config declares no lead columns)
    assert view is not None and data_column("images") in view["hiddenColumns"]["explore"]
