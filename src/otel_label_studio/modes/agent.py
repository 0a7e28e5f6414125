"""Mode agent: one LangChain run, one task. A trace's spans are held until its run is whole
(its top span ended and every span's parent came, then ``run_grace``; else ``run_idle_timeout``),
then the run record (``runs.py``) becomes a task (``run_tasks.py``). A top span that comes after
its run was queued without it completes that run's task in place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..rules.language import RuleSet
from ..rules.run_fields import check_mode
from ..store.assembly import RunAssembler, RunHold
from ..store.run_codec import AnyRecord
from .layouts import Layout, layout_for
from .run_tasks import run_task
from .runs import RunRecord, is_run_bytes
from .unit import AnyLayout, HoldSettings, ReviewUnit

if TYPE_CHECKING:
    from ..reading.mapping import Mapper
    from ..rules import ReviewGate


class AgentUnit(ReviewUnit):
    mode = "agent"
    decided = "runs"
    rules_note = "mode agent: the rules decide whole runs as they are released"
    rules_every = "every run"

    def layout(self, project_config: str | None) -> AnyLayout:
        return layout_for(self.mode, project_config)

    def takes(self, record: AnyRecord) -> bool:
        return isinstance(record, RunRecord)

    def decode(self, data: bytes) -> AnyRecord | None:
        return RunRecord.from_bytes(data) if is_run_bytes(data) else None

    def replaces(self, record: AnyRecord) -> str | None:
        """A run queued again once its late top span came completes the task made without it."""
        return record.replaces if isinstance(record, RunRecord) else None

    def task(self, layout: AnyLayout, record: AnyRecord) -> dict:
        if not isinstance(layout, Layout):
            raise ValueError("a pairwise label config takes pairs, not single LLM calls or runs")
        assert isinstance(record, RunRecord)
        return run_task(layout, record)

    def hold(
        self,
        held_in: Callable[[], RunHold],
        settings: HoldSettings,
        *,
        mapper: Mapper,
        redact: Callable[[str], str] | None,
        gate: ReviewGate | None,
    ) -> RunAssembler | None:
        """A trace's runs, released ``run_grace`` after their top span once no span waits for its
        parent (``run_idle_timeout`` otherwise)."""
        return RunAssembler(
            held_in(),
            grace=settings.run_grace,
            idle_timeout=settings.run_idle_timeout,
            redact=redact,
            gate=gate,
        )

    def counts(self, held: RunAssembler) -> dict[str, int]:
        runs = held.stats
        return {
            "runs_released": runs.runs_released,
            "runs_incomplete": runs.runs_incomplete,
            "runs_completed": runs.runs_completed,
            "runs_open": held.open_runs,
            "late_spans_dropped": runs.late_spans_dropped,
            "run_spans_dropped": runs.spans_dropped_full,
        }

    def readings(self, held: RunAssembler) -> dict[str, Any]:
        return {"runs": (held.stats, held.open_runs)}

    def check_rules(self, rules: RuleSet) -> None:
        check_mode(rules, self.mode)  # one call's fields do not fit a whole run


AGENT = AgentUnit()
