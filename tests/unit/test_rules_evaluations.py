"""Review rules match a judge's result already on the span at ingest: ``evaluation.<name>`` reads
the span's ``gen_ai.evaluation.result`` event of that name, its score for a number or comparison,
its label for text or a glob, its presence for ``{exists: ...}``."""

from __future__ import annotations

import pytest

from otel_label_studio.reading.spanview import EventView, SpanView, from_readable_span
from otel_label_studio.rules import KEPT, ReviewGate, RulesError, parse
from tests.support.judge_spans import judged_chat_span


def evaluated(*events: dict) -> SpanView:
    return SpanView(
        "0" * 32,
        "0123456789abcdef",
        "chat",
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"},
        1,
        2,
        events=tuple(EventView(str(e.pop("event", "gen_ai.evaluation.result")), 1, e) for e in events),
    )


def keeps(match: str, span: SpanView) -> bool:
    gate = ReviewGate(
        parse(f"rules:\n  - name: r\n    match: {match}\n", "rules.yaml"),
        None,
        metadata_prefix="traceloop.association.properties",
        default_project="p",
    )
    return gate.decide(span).reason == KEPT


UNHELPFUL = {
    "gen_ai.evaluation.name": "helpfulness",
    "gen_ai.evaluation.score.value": 0.25,
    "gen_ai.evaluation.score.label": "unhelpful",
}


@pytest.mark.parametrize(
    "match, kept",
    [
        ('{evaluation.helpfulness: "<0.5"}', True),  # the score
        ('{evaluation.helpfulness: ">=0.5"}', False),
        ("{evaluation.helpfulness: 0.25}", True),
        ("{evaluation.helpfulness: unhelpful}", True),  # the label
        ('{evaluation.helpfulness: "un*"}', True),
        ("{evaluation.helpfulness: [helpful, unhelpful]}", True),
        ("{evaluation.helpfulness: helpful}", False),
        ("{evaluation.helpfulness: {exists: true}}", True),
        ("{evaluation.toxicity: {exists: false}}", True),
        ('{evaluation.toxicity: "<0.5"}', False),  # no such evaluation: nothing compares
        ('{evaluation.helpfulness: "<0.5", model: "gpt-4o*"}', True),
    ],
)
def test_evaluation_patterns(match, kept):
    span = evaluated({"event": "exception", "gen_ai.evaluation.name": "toxicity"}, dict(UNHELPFUL))
    assert keeps(match, span) is kept


def test_the_last_result_of_a_name_counts_and_a_score_given_as_text_compares():
    later = {"gen_ai.evaluation.name": "helpfulness", "gen_ai.evaluation.score.value": "0.9"}
    span = evaluated(dict(UNHELPFUL), later)
    assert keeps('{evaluation.helpfulness: ">0.8"}', span)
    assert not keeps("{evaluation.helpfulness: unhelpful}", span)


def test_an_sdk_span_with_evaluation_events_is_matched():
    span = from_readable_span(judged_chat_span())  # helpfulness 0.75 "helpful", toxicity 0.0
    assert keeps('{evaluation.helpfulness: ">0.5", evaluation.toxicity: "==0"}', span)
    assert not keeps('{evaluation.helpfulness: "<0.5"}', span)


def test_evaluation_without_a_name_is_a_mistake_at_its_line():
    with pytest.raises(RulesError) as caught:
        parse("rules:\n  - name: a\n    match:\n      evaluation.: '<0.5'\n", "rules.yaml")
    assert caught.value.line == 4 and "needs the evaluation's name: evaluation.helpfulness" in str(
        caught.value
    )
    with pytest.raises(RulesError) as unknown:
        parse("rules:\n  - name: a\n    match: {evaluation: '<0.5'}\n", "rules.yaml")
    assert "evaluation.<name>" in str(unknown.value)
