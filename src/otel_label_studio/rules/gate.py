"""The review gate: which LLM spans become tasks, decided before the expensive work.

``decide(view)`` runs before a span is mapped: it reads only the values the rules ask for,
finds the first rule that matches, samples by trace id exactly as the OpenTelemetry SDK's
``TraceIdRatioBased`` does, and refuses a span whose rule and project already reached their
limit. A span it drops is never mapped, redacted or queued. ``admit(decision, record)`` runs
after mapping, for a record about to be queued: it folds a repeat of a recent task (same
input, same response) and counts the task against its limit. ``commit()`` writes the state
once per batch.

    gate = open_gate(path, metadata_prefix=..., project_id=..., project_name=..., spool_path=...)
    decision = gate.decide(view, dialect.name, header_project)
    if decision.keep:
        record = redact(map(view))                 # include errors when decision.keep_errors
        if decision.project: record.project = decision.project
        if gate.admit(decision, record): queue(record)
    gate.commit()
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Sequence

from ..delivery.titles import title_at
from ..reading import dialects
from ..reading.dialects._common import PROJECT_ATTRIBUTE
from ..reading.record import LLMRecord
from ..reading.spanview import STATUS_ERROR, SpanView
from .fields import FieldReader, Reader
from .language import Condition, Rule, RulesError, RuleSet, load_file
from .run_fields import compile_runs, run_fingerprint, run_view
from .shared_state import PostgresReviewState
from .state import (
    FOLDED,
    KEPT,
    OVER_LIMIT,
    Limited,
    MemoryReviewState,
    ReviewState,
    SqliteReviewState,
    period_key,
    state_path_for,
)

if TYPE_CHECKING:
    from ..modes.runs import RunRecord
    from ..store.shared import SharedState
    from .run_fields import RunView

_logger = logging.getLogger(__name__)

SAMPLED_OUT = "sampled out"
NO_RULE = "no rule matched"
NOT_LLM = "not an LLM span"
_LOW_64 = (1 << 64) - 1


class Decision(NamedTuple):
    keep: bool
    rule: str | None  # the rule that decided; None when none matched
    project: str | None  # the rule's own project (a title, strftime'd at delivery); None: as without rules
    reason: str  # KEPT (so far), SAMPLED_OUT, OVER_LIMIT, NO_RULE, NOT_LLM
    project_key: str = ""  # the project as resolved now (UTC), what limits and folding count in
    keep_errors: bool = False  # a failed call kept by this rule becomes a task showing the error
    at: float = 0.0


@dataclass
class RuleCounts:
    matched: int = 0
    kept: int = 0
    sampled_out: int = 0
    over_limit: int = 0
    folded: int = 0


@dataclass
class ReviewCounts:
    rules: dict[str, RuleCounts] = field(default_factory=dict)
    no_rule: int = 0

    def flat(self) -> dict[str, int]:
        """``{"review.<rule>.<counter>": n, ..., "review.no_rule_matched": n}`` (exporter.counts)."""
        values = {
            f"review.{name}.{counter}": value
            for name, counts in self.rules.items()
            for counter, value in vars(counts).items()
        }
        values["review.no_rule_matched"] = self.no_rule
        return values


def _failed(view: SpanView, dialect: str) -> bool:
    """``status`` as an index into its test's answers: True (1) for a failed call."""
    return view.status_code == STATUS_ERROR


class _CompiledRule(NamedTuple):
    rule: Rule
    checks: tuple[tuple[Reader, Callable[[Any], bool]], ...]
    counts: RuleCounts  # the rule's counters (kept by name across reloads)
    sampled_out: Decision  # the rule's answer for a span its sampling drops: the same every time


class ReviewGate:
    """Decides per span with ``rules``; counts per rule; remembers limits and folds in ``state``.

    ``default_project`` is the project a record goes to without a rule's or a resource's own
    (``"#<id>"`` for a project id, else the project title template). Thread-safe.
    """

    def __init__(
        self,
        rules: RuleSet,
        state: ReviewState | None = None,
        *,
        metadata_prefix: str,
        default_project: str,
        clock: Callable[[], float] = time.time,
    ):
        self._fields = FieldReader(metadata_prefix)
        self._state: ReviewState = state if state is not None else MemoryReviewState()
        self._default_project = default_project
        self._clock = clock
        self._lock = threading.Lock()
        self._counts = ReviewCounts()
        self.reload(rules)

    @property
    def rules(self) -> RuleSet:
        return self._rules

    @property
    def state(self) -> ReviewState:
        return self._state

    def reload(self, rules: RuleSet) -> None:
        """Decide with new rules from now on; counters of rules kept by name carry on."""
        with self._lock:
            compiled = tuple(
                _CompiledRule(
                    rule,
                    tuple(self._check(condition) for condition in rule.conditions),
                    self._counts.rules.setdefault(rule.name, RuleCounts()),
                    Decision(False, rule.name, rule.project, SAMPLED_OUT),
                )
                for rule in rules.rules
            )
            self._rules, self._compiled = rules, compiled

    def _check(self, condition: Condition) -> tuple[Reader, Callable[[Any], bool]]:
        """The reader and the test of one condition. ``status`` has two values: its test is
        answered once here (a tuple indexed by whether the span failed), not per span."""
        if condition.key == "status":
            return _failed, (condition.holds("ok"), condition.holds("error")).__getitem__
        return self._fields.reader(condition.key), condition.holds

    def reload_file(self, path: str) -> bool:
        """Re-read the rules file (serve on SIGHUP): True when the new rules decide from now on;
        a bad file is logged as an ERROR, with its line, and the rules in force stay."""
        try:
            rules = load_file(path)
        except RulesError as exc:
            _logger.error("Review rules not reloaded, the rules in force stay: %s", exc)
            return False
        self.reload(rules)
        _logger.info("Review rules reloaded from %s: %d rules", path, len(rules.rules))
        return True

    def counts(self) -> ReviewCounts:
        with self._lock:
            return ReviewCounts(
                {name: RuleCounts(**vars(counts)) for name, counts in self._counts.rules.items()},
                self._counts.no_rule,
            )

    def decide(self, view: SpanView, dialect: str | None = None, project: str | None = None) -> Decision:
        """Whether the span may become a task; ``dialect`` is the name of the dialect that claims
        it (looked up when not given), ``project`` the project its request named (a header)."""
        if dialect is None:
            found = dialects.dialect_for(view)
            if found is None:
                return Decision(False, None, None, NOT_LLM)
            dialect = found.name
        for rule, checks, counts, sampled_out in self._compiled:  # plain loops: this runs for every LLM span
            for read, holds in checks:
                if not holds(read(view, dialect)):
                    break
            else:
                if rule.bound <= _LOW_64 and int(view.trace_id[16:], 16) >= rule.bound:  # as _decide
                    with self._lock:
                        counts.matched += 1
                        counts.sampled_out += 1
                    return sampled_out
                return self._decide(rule, counts, view, project)
        with self._lock:
            self._counts.no_rule += 1
        return Decision(False, None, None, NO_RULE)

    def decide_run(self, run: RunView, project: str | None = None) -> Decision:
        """Mode agent: whether a released run may become a task (``run_fields``), sampled by its
        trace id and limited per run as a span is."""
        compiled = getattr(self, "_runs_compiled", None)
        if compiled is None or compiled[0] is not self._rules:
            compiled = self._runs_compiled = (self._rules, compile_runs(self._rules, self._fields))
        for rule, checks in compiled[1]:
            if all(holds(read(run)) for read, holds in checks):
                with self._lock:
                    counts = self._counts.rules.setdefault(rule.name, RuleCounts())
                return self._decide(rule, counts, run.top, project)
        with self._lock:
            self._counts.no_rule += 1
        return Decision(False, None, None, NO_RULE)

    def _decide(self, rule: Rule, counts: RuleCounts, view: SpanView, project: str | None) -> Decision:
        # TraceIdRatioBased: the trace id's lower 64 bits (the last 16 hex digits) below round(p * 2**64).
        if rule.bound <= _LOW_64 and int(view.trace_id[16:], 16) >= rule.bound:
            with self._lock:
                counts.matched += 1
                counts.sampled_out += 1
            return Decision(False, rule.name, rule.project, SAMPLED_OUT)
        now = self._clock()
        template = rule.project or view.resource.get(PROJECT_ATTRIBUTE) or project or self._default_project
        project_key = title_at(str(template), now)  # as delivery names it (UTC)
        if rule.limit is not None:
            used = self._state.count(rule.name, project_key, period_key(rule.limit.period, now))
            if used >= rule.limit.count:
                with self._lock:
                    counts.matched += 1
                    counts.over_limit += 1
                return Decision(False, rule.name, rule.project, OVER_LIMIT, project_key)
        with self._lock:
            counts.matched += 1
        keep_errors = rule.keeps_errors or self._rules.include_errors
        return Decision(True, rule.name, rule.project, KEPT, project_key, keep_errors, now)

    def admit(self, decision: Decision, record: LLMRecord | RunRecord) -> bool:
        """For a kept span's record about to be queued: False when it repeats a recent task
        (folded) or its limit filled up meanwhile (over limit); True counts it as kept. The state
        decides in one step (atomic across replicas on a shared state); a shared state that cannot
        be reached raises ``StateUnavailable`` (a ``QueueFull``: the sender retries)."""
        counts = self._counts.rules[decision.rule or ""]
        fingerprint, limit = self._what_counts(decision, record)
        outcome = KEPT
        if fingerprint is not None or limit is not None:
            key = (record.trace_id, record.span_id)
            outcome = self._state.admit(
                key, decision.project_key, fingerprint, decision.at, self._window, limit
            )
        with self._lock:
            if outcome == FOLDED:
                counts.folded += 1
            elif outcome == OVER_LIMIT:
                counts.over_limit += 1
            else:
                counts.kept += 1
        return outcome == KEPT

    @property
    def _window(self) -> float:
        return float(self._rules.fold_seconds or 0)

    def _what_counts(
        self, decision: Decision, record: LLMRecord | RunRecord
    ) -> tuple[bytes | None, Limited | None]:
        """The record's fingerprint (when folding is on) and the limit it is counted against (if any)."""
        fingerprint = record_fingerprint(record) if self._rules.fold_seconds else None
        rule = self._rules_by_name(decision.rule)
        if rule is None or rule.limit is None:
            return fingerprint, None
        return fingerprint, (rule.name, period_key(rule.limit.period, decision.at), rule.limit.count)

    def revoke(self, admitted: list[tuple[Decision, LLMRecord]] | list[tuple[Decision, RunRecord]]) -> None:
        """Undo ``admit`` for records the queue then refused (a full spool: the sender retries them,
        and a retry must be neither folded nor over a limit the refused batch used up)."""
        for decision, record in admitted:
            fingerprint, limit = self._what_counts(decision, record)
            if fingerprint is not None or limit is not None:
                key = (record.trace_id, record.span_id)
                self._state.revoke(key, decision.project_key, fingerprint, limit)
            with self._lock:
                counts = self._counts.rules.get(decision.rule or "")
                if counts is not None:
                    counts.kept -= 1

    def _rules_by_name(self, name: str | None) -> Rule | None:
        for rule in self._rules.rules:
            if rule.name == name:
                return rule
        return None

    def commit(self) -> None:
        """Write limit counts and fingerprints (once per batch; nothing for in-memory state)."""
        self._state.commit()

    def close(self) -> None:
        self._state.close()


def open_gate(
    rules_path: str,
    *,
    metadata_prefix: str,
    project_id: int | None,
    project_name: str,
    spool_path: str | None = None,
    clock: Callable[[], float] = time.time,
    shared: SharedState | None = None,
) -> ReviewGate:
    """The gate for a rules file, as the exporter and serve build it: its state on the ``shared``
    state server (one truth for every replica), else beside the spool (``spool_path``, a file or a
    directory) so limits and folding survive a restart, else in memory; the gate and its state read
    one clock. Raises RulesError (a ValueError naming file and line) for a bad file, ValueError for
    a state file that cannot be opened."""
    rules = load_file(rules_path)
    state: ReviewState
    if shared is not None:
        state = PostgresReviewState(shared, clock=clock)
    elif spool_path:
        state = SqliteReviewState(state_path_for(spool_path), clock=clock)
    else:
        state = MemoryReviewState()
    default_project = f"#{project_id}" if project_id is not None else project_name
    return ReviewGate(
        rules, state, metadata_prefix=metadata_prefix, default_project=default_project, clock=clock
    )


def record_fingerprint(record: LLMRecord | RunRecord) -> bytes:
    """What a reviewer would see twice: the input messages (role and whitespace-normalised text),
    the responses and any error, hashed (BLAKE2b, 16 bytes); a run's: ``run_fields.run_fingerprint``."""
    if type(record) is not LLMRecord:  # a run (mode agent)
        return run_fingerprint(record)  # type: ignore[arg-type]
    digest = hashlib.blake2b(digest_size=16)
    for message in record.messages:
        digest.update(message.role.encode())
        digest.update(b"\x1f")
        digest.update(_normalised(message.content).encode())
        digest.update(b"\x1e")
    digest.update(b"\x1d")
    for output in record.outputs:
        digest.update(_normalised(output).encode())
        digest.update(b"\x1e")
    if record.error:
        digest.update(b"\x1d")
        digest.update(_normalised(record.error).encode())
    return digest.digest()


def _normalised(text: str) -> str:
    """Runs of whitespace as one space, none at the ends: ``" ".join(text.split())``, without
    splitting text that is already so (every whitespace character but the space is unprintable,
    and three C scans cost a fraction of splitting a prompt into words)."""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


def select_runs(
    gate: ReviewGate, runs: Sequence[tuple[RunRecord, Sequence[SpanView]]], project: str | None
) -> tuple[list[RunRecord], list[tuple[Decision, RunRecord]]]:
    """The runs the rules keep, to queue, and the admissions to revoke if the queue refuses them."""
    kept: list[RunRecord] = []
    admitted: list[tuple[Decision, RunRecord]] = []
    try:
        for record, spans in runs:
            decision = gate.decide_run(run_view(record, spans), project)
            if not decision.keep:
                continue
            if decision.project:
                record.project = decision.project
            if gate.admit(decision, record):
                kept.append(record)
                admitted.append((decision, record))
    except Exception:  # a shared review state out of reach: the trace stays held, nothing kept counts
        gate.revoke(admitted)
        raise
    return kept, admitted
