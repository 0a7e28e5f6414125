"""Modes prompt and chat: one LLM call, one task. Nothing is held; the layout shapes the record
(the prompt layout as text, the chat layout as a dialogue, or the user's own config)."""

from __future__ import annotations

from ..reading.record import LLMRecord
from ..rules.language import RuleSet
from ..rules.run_fields import check_mode
from ..store.run_codec import AnyRecord
from .layouts import Layout, layout_for
from .unit import AnyLayout, ReviewUnit


class CallUnit(ReviewUnit):
    decided = "LLM spans"
    judged = True
    budgets = True  # the review budget picks among its calls (rules/budget_hold.py)
    claims_rest = True  # a call's bytes are the pickle no other unit claims

    def __init__(self, mode: str):
        self.mode = mode

    def layout(self, project_config: str | None) -> AnyLayout:
        return layout_for(self.mode, project_config)

    def takes(self, record: AnyRecord) -> bool:
        return isinstance(record, LLMRecord)

    def decode(self, data: bytes) -> AnyRecord | None:
        return LLMRecord.from_bytes(data)

    def task(self, layout: AnyLayout, record: AnyRecord) -> dict:
        if not isinstance(layout, Layout):
            raise ValueError("a pairwise label config takes pairs, not single LLM calls or runs")
        assert isinstance(record, LLMRecord)
        return layout.task(record)

    def check_rules(self, rules: RuleSet) -> None:
        check_mode(rules, self.mode)  # a run's fields (run.*) do not fit one call


PROMPT = CallUnit("prompt")
CHAT = CallUnit("chat")
