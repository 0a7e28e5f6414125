"""The seam every review unit implements: what it holds and when it releases it, how its record
becomes a task in its layout, what it counts, and which review rules fit it.

The units are prompt and chat (one LLM call a task, ``calls.py``), agent (one LangChain run,
``agent.py``) and pairwise (two answers to one prompt, ``pairwise.py``); ``units.unit_for`` picks
one by mode and ``units.unit_of`` by record. The code outside ``modes/`` asks the unit and never
tells records, layouts or builds apart itself. To add a unit, see ARCHITECTURE.md.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..rules.language import RulesError, load_file
from ..store.assembly import RunAssembler, RunHold
from ..store.run_codec import AnyRecord
from .layouts import Layout
from .pair_layout import PairLayout

if TYPE_CHECKING:
    from ..analysis.readings import Reading
    from ..reading.mapping import Mapper
    from ..rules import ReviewGate
    from ..rules.language import RuleSet

AnyLayout = Layout | PairLayout


@dataclass(frozen=True)
class HoldSettings:
    """What a unit that holds spans needs from the settings (``config.Settings`` fields)."""

    run_grace: float
    run_idle_timeout: float
    pair_wait: float


class ReviewUnit(ABC):
    """One kind of review task. Plain (no hold, no counts, every rule fits) unless a unit says otherwise."""

    mode: str  # the ``mode`` setting that picks it
    decided: str  # what review rules decide about, for log lines: "LLM spans", "runs"
    judged: bool = False  # judge results waiting for its span are imported with its task
    replays: bool = True  # `otel-label-studio replay` can form its records from stored traffic
    claims_rest: bool = False  # its ``decode`` takes the bytes no other unit claimed (a pickled call)
    rules_note: str | None = None  # what `rules check` says first in this mode (None: nothing)
    budgets: bool = False  # serve and the exporter apply a rules file's ``budget:`` to its records
    rules_every: str = "every LLM span"  # what a rule without conditions matches, as `rules check` says it

    @abstractmethod
    def layout(self, project_config: str | None) -> AnyLayout:
        """The layout new projects get and records are shaped by (``project_config``: the user's own)."""

    @abstractmethod
    def takes(self, record: AnyRecord) -> bool:
        """Whether a queued record is this unit's."""

    @abstractmethod
    def decode(self, data: bytes) -> AnyRecord | None:
        """Its record from the bytes the queue keeps (``to_bytes()``); None when they are another
        unit's. Plain values only: a spool file never runs code."""

    def shows(self, label_config: str) -> bool:
        """Whether a project of ``label_config`` holds this unit's tasks in a way only it can read
        (``units.unit_of_project``); False: its tasks read as single answers."""
        return False

    def reading(self, label_config: str) -> Reading:
        """How ``export`` and ``report`` read a project of ``label_config`` (ValueError when they cannot)."""
        from ..analysis.readings import AnswerReading  # start-up time: numpy, for the commands only

        return AnswerReading(label_config)

    def replaces(self, record: AnyRecord) -> str | None:
        """The span id of the record whose task this one completes (delivery updates that task in
        place instead of importing a second one); None: a task of its own."""
        return None

    @abstractmethod
    def task(self, layout: AnyLayout, record: AnyRecord) -> dict:
        """The record's task in a project of ``layout``; ValueError when that layout cannot show it
        (the record goes to the dead letters with the reason)."""

    def hold(
        self,
        held_in: Callable[[], RunHold],
        settings: HoldSettings,
        *,
        mapper: Mapper,
        redact: Callable[[str], str] | None,
        gate: ReviewGate | None,
    ) -> RunAssembler | None:
        """What holds spans until the unit's record can be formed (in the hold ``held_in`` makes: the
        spool's file or memory); None: each span goes on at once."""
        return None

    def counts(self, held: RunAssembler) -> dict[str, int]:
        """The hold's figures for ``exporter.counts``."""
        return {}

    def readings(self, held: RunAssembler) -> dict[str, Any]:
        """The hold's figures for serve's metrics (``receiver/metrics.py``)."""
        return {}

    @abstractmethod
    def check_rules(self, rules: RuleSet) -> None:
        """RulesError (file, line, what to write) when a rule matches on fields this unit lacks."""

    def check_rules_file(self, path: str) -> None:
        """``check_rules`` on the file at ``path`` (RulesError for a file that does not load). A
        ``budget:`` is refused in a unit that does not apply it (``budgets``): ``rules check`` reads
        it, and a budget silently not kept would flood the reviewers it was meant to spare."""
        rules = load_file(path)
        if rules.budget is not None and not self.budgets:
            raise RulesError(
                path,
                rules.budget.line,
                f"`budget:` is checked by `otel-label-studio rules check` but not yet applied by serve "
                f"or the exporter in mode {self.mode}: remove it (and budget_window, explore, priority) "
                "to run with this file",
            )
        for rule in rules.rules:
            if rule.await_judges:
                raise RulesError(
                    path,
                    rule.line,
                    f"`await_judges` of rule {rule.name!r} is checked by `otel-label-studio rules check` but "
                    "serve and the exporter do not wait for judges yet: remove it (and judge_wait) to run",
                )
        self.check_rules(rules)
