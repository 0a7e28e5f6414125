"""`rules check` with a budget (issue 28, step 6): the dry run offers every LLM span to the budget in the
order the spans ended and says what it would pick and why (reason, the sum of weights)."""

from __future__ import annotations

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_label_studio import config
from otel_label_studio.cli.rules import dry_run, table
from otel_label_studio.rules import parse
from tests.support.otlp_requests import attribute, llm_spans

RULES = """\
rules:
  - name: all
budget: 240/day
budget_window: 1h
explore: 10%
"""


def judged(span: Span, helpfulness: str, faithfulness: str) -> None:
    for name, label in (("helpfulness", helpfulness), ("faithfulness", faithfulness)):
        span.events.append(
            Span.Event(
                name="gen_ai.evaluation.result",
                time_unix_nano=span.end_time_unix_nano,
                attributes=[
                    attribute("gen_ai.evaluation.name", name),
                    attribute("gen_ai.evaluation.score.label", label),
                ],
            )
        )


def test_rules_check_prints_what_the_budget_would_pick_and_why():
    request = llm_spans([f"question {n}" for n in range(30)])
    spans = request.resource_spans[0].scope_spans[0].spans
    for number, span in enumerate(spans):
        judged(span, "good", "bad" if number < 5 else "good")  # five disagreements
    settings = config.resolve_settings(project_name="Reviews")
    result = dry_run(parse(RULES), settings, [request])
    # 22:13 UTC: the day's budget is carried, but one window spends at most twice its share (10)
    assert sum(result.picked.values()) == 20
    assert result.picked["explore"] == 1  # 10% of the window's even share of 10
    assert result.picked["disagreement"] + result.picked["explore"] >= 5
    assert (
        result.picked["disagreement"] >= 4 and result.picked["all"] == 20 - 1 - result.picked["disagreement"]
    )
    assert result.weights["explore"] == 30.0  # 1 of 30 calls: p = 1/30
    printed = table("rules.yaml", ["traces.pb"], result)
    assert "budget would pick: 20: " in printed and "explore 1 (weights sum 30)" in printed
