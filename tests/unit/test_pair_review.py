"""The pure parts around pair tasks (issue 17): the win-rate report's edge cases, the pairwise Data
Manager tab of a text-prompt config, and the feedback loop taking a pair task's webhook offline."""

from __future__ import annotations

import copy
import json
import math

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otel_label_studio.analysis.report import (
    build_pair_report,
    nothing_told_apart,
    pair_report_json,
    render_pair_text,
)
from otel_label_studio.analysis.report_html import render_pair_html
from otel_label_studio.feedback.loop import FeedbackLoop
from otel_label_studio.modes.dm_view import data_column, needs_tab, view_for
from otel_label_studio.modes.layouts import PROMPT_CONFIG, Layout
from otel_label_studio.modes.pair_layout import PAIRWISE_CONFIG, PairLayout

TEXT_PAIRWISE = """
<View>
  <Text name="question" value="$prompt"/>
  <Pairwise name="pick" toName="left,right"/>
  <Text name="left" value="$first"/>
  <Text name="right" value="$second"/>
</View>"""


def pair_task(task_id: int, models: tuple[str, str], result: list, version: str = "v1") -> dict:
    sides = {
        side: {"span_id": f"{task_id:015x}{i}", "model": model, "metadata": {"prompt_version": version}}
        for i, (side, model) in enumerate(zip("ab", models, strict=True))
    }
    return {
        "id": task_id,
        "data": {"trace_id": f"{task_id:032x}"},
        "meta": {"pair": {"pair_id": f"p{task_id}", **sides}},
        "annotations": [{"id": task_id, "result": result, "updated_at": "2026-11-29T10:00:00Z"}],
    }


def choose(selected: str) -> list:
    return [{"from_name": "choice", "type": "pairwise", "value": {"selected": selected}}]


TIE = [{"from_name": "verdict", "type": "choices", "value": {"choices": ["Tie"]}}]


def test_a_pair_of_variants_with_only_ties_has_an_undefined_win_rate():
    tasks = [
        pair_task(1, ("x", "y"), TIE),
        pair_task(2, ("y", "x"), TIE),
        pair_task(3, ("x", "x"), choose("left")),
        pair_task(4, ("x", "y"), []),  # no choice
    ]
    report = build_pair_report(tasks, project_id=9, title="t")
    assert (report.tasks, report.reviewed, report.same_variant) == (4, 3, 1)
    (row,) = report.win_rates
    assert (row.first, row.second, row.wins, row.losses, row.ties, row.win_rate, row.low) == (
        "x",
        "y",
        0,
        0,
        2,
        None,
        None,
    )
    text = render_pair_text(report)
    assert "x vs y: wins 0, losses 0, ties 2, both bad 0; win rate undefined (n=0)" in text
    assert "Left out: 1 reviewed pairs with the same model on both sides" in text
    data = json.loads(json.dumps(pair_report_json(report)))
    assert data["win_rates"][0]["win_rate"] is None and data["win_rates"][0]["decided"] == 0
    page = render_pair_html(report)
    assert "no decided pairs" in page and 'class="bar"' not in page


def test_a_side_without_the_variant_key_counts_as_unknown():
    tasks = [pair_task(1, ("x", "y"), choose("right"))]
    tasks[0]["meta"]["pair"]["b"]["metadata"] = {}
    (row,) = build_pair_report(tasks, variant="prompt_version", project_id=1).win_rates
    assert (row.first, row.second, row.wins, row.losses) == ("unknown", "v1", 1, 0)
    assert row.win_rate == 1.0 and math.isclose(row.high or 0, 1.0)


def sides_task(task_id: int, a: dict, b: dict, result: list) -> dict:
    """A pair task whose sides record only ``a`` and ``b`` (plus span ids)."""
    task = pair_task(task_id, ("", ""), result)
    for letter, side in (("a", a), ("b", b)):
        task["meta"]["pair"][letter] = {"span_id": f"{task_id:015x}{letter}", **copy.deepcopy(side)}
    return task


FAKE_LIST = {"provider": "fakelistchatmodel", "model_class": "FakeListChatModel", "metadata": {}}
GENERIC = {"provider": "genericfakechatmodel", "model_class": "GenericFakeChatModel", "metadata": {}}
SERVED = {"provider": "acme", "model_class": "ServedChat", "metadata": {}}
CANDIDATE = {"provider": "acme", "model_class": "CandidateChat", "metadata": {}}


@pytest.mark.parametrize(
    ("a", "b", "by", "names"),
    [
        (FAKE_LIST, GENERIC, "provider", ("fakelistchatmodel", "genericfakechatmodel")),
        (SERVED, CANDIDATE, "model_class", ("CandidateChat", "ServedChat")),
        (
            {**SERVED, "model": "m", "metadata": {"ls_model_name": "served-model"}},
            {**SERVED, "model": "m", "metadata": {"ls_model_name": "candidate-model"}},
            "ls_model_name",
            ("candidate-model", "served-model"),
        ),
        ({**SERVED, "model": "gpt-4o"}, CANDIDATE, "model", ("gpt-4o", "unknown")),  # one name: the model
    ],
    ids=["provider", "model-class", "ls-model-name", "one-side-named"],
)
def test_sides_with_no_or_the_same_model_are_told_apart_by_the_first_attribute_that_differs(a, b, by, names):
    """Spans of fake models carry no model name: report said both sides were the same model."""
    tasks = [
        sides_task(1, a, b, choose("left")),
        sides_task(2, b, a, choose("left")),
        sides_task(3, a, b, TIE),
    ]
    report = build_pair_report(tasks, project_id=4, title="fakes")
    (row,) = report.win_rates
    assert (row.first, row.second) == names
    assert (row.wins + row.losses, row.ties, report.same_variant) == (2, 1, 0)
    assert report.told_apart_by == {by: 3} and nothing_told_apart(report) is None
    text = render_pair_text(report)
    assert f"{names[0]} vs {names[1]}: wins 1, losses 1, ties 1" in text
    if by == "model_class":
        assert "where it is missing or the same on both sides, by LangChain model class (3 pairs)" in text
    assert pair_report_json(report)["told_apart_by"] == {by: 3}
    # --variant compares what it names, and nothing else
    assert build_pair_report(tasks, variant="model", project_id=4).win_rates == (
        [] if by != "model" else [row]
    )


def test_pairs_nothing_tells_apart_name_the_variant_to_use():
    same = {**FAKE_LIST, "metadata": {"ls_model_type": "chat"}}
    served = {**FAKE_LIST, "metadata": {"variant": "served", "step": "1"}}
    candidate = {**FAKE_LIST, "metadata": {"variant": "candidate", "step": "2"}}
    tasks = [sides_task(1, served, candidate, choose("left")), sides_task(2, candidate, served, TIE)]
    tasks.append(sides_task(3, same, same, choose("right")))
    tasks[1]["meta"]["pair"]["b"]["metadata"]["step"] = "2"  # only "variant" differs in this pair
    report = build_pair_report(tasks, project_id=4, title="fakes")
    assert (report.reviewed, report.same_variant, report.win_rates) == (3, 3, [])
    assert report.other_variants == ["variant", "step"]
    message = nothing_told_apart(report)
    assert message is not None and message.startswith(
        "project 4 'fakes': nothing tells the two sides of its 3"
    )
    assert "the same model, provider, LangChain model class and ls_model_name on both sides" in message
    assert message.endswith(
        "compare by what differs between their sides: --variant variant or --variant step"
    )
    # and with what it names: win rates
    (row,) = build_pair_report(tasks, variant="variant", project_id=4).win_rates
    assert (row.first, row.second, row.losses, row.ties) == ("candidate", "served", 1, 1)

    nothing = nothing_told_apart(build_pair_report([tasks[2]], project_id=4, title="n2"))
    assert nothing is not None and "record what tells the variants apart as run metadata" in nothing
    assert nothing.endswith("compare by it with --variant variant")
    # nothing reviewed yet, or a --variant given: a report to print, not a usage problem
    assert nothing_told_apart(build_pair_report([sides_task(5, same, same, [])], project_id=4)) is None
    explicit = build_pair_report(tasks, variant="model", project_id=4)
    assert nothing_told_apart(explicit) is None
    assert "Left out: 3 reviewed pairs with the same model on both sides; what differs between their" in (
        render_pair_text(explicit)
    )


def test_a_text_prompt_pairwise_config_gets_its_tab_too():
    layout = PairLayout.from_config(TEXT_PAIRWISE)
    assert not layout.dialogue and needs_tab(layout)
    columns = [{"id": "id", "target": "tasks", "visibility_defaults": {"explore": False, "labeling": True}}]
    view = view_for(layout, columns)
    assert view is not None
    explore, labeling = view["hiddenColumns"]["explore"], view["hiddenColumns"]["labeling"]
    assert data_column("prompt") not in explore and data_column("prompt") not in labeling
    assert data_column("first") not in explore and data_column("first") in labeling
    assert data_column("second") in labeling and data_column("pair_id") in labeling
    assert "tasks:id" in explore
    # a prompt project gets one too now (issue 25: its latency typed as a number, its images list
    # hidden); the pairwise config bound as a single-call Layout gets the pair tab
    assert needs_tab(Layout.from_config(PROMPT_CONFIG))
    bound = view_for(Layout.from_config(PAIRWISE_CONFIG), [])
    assert bound is not None and data_column("answer_b") in bound["hiddenColumns"]["labeling"]


def test_the_feedback_loop_keeps_one_event_per_side_of_a_pair_task(tmp_path):
    asked: list[int] = []

    def predictions(task_id: int) -> list:
        asked.append(task_id)
        return []

    loop = FeedbackLoop("http://127.0.0.1:9", str(tmp_path), predictions=predictions)
    try:
        task = pair_task(5, ("x", "y"), choose("right"))
        payload = {"action": "ANNOTATION_CREATED", "task": task, "annotation": task["annotations"][0]}
        assert loop.take(json.dumps(payload).encode()) == 2
        assert asked == []  # a pair task has no prediction to read
        kept = ExportLogsServiceRequest.FromString(loop.outbox.oldest()[0].body)
        records = kept.resource_logs[0].scope_logs[0].log_records
        labels = [
            next(kv.value.string_value for kv in r.attributes if kv.key == "gen_ai.evaluation.score.label")
            for r in records
        ]
        assert [r.span_id.hex() for r in records] == ["0" * 14 + "50", "0" * 14 + "51"]
        assert labels == ["rejected", "preferred"]
    finally:
        loop.close()
