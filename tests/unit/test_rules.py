"""Review rules: the language (every pattern kind, first match, mistakes with their line), sampling
as the OpenTelemetry SDK's TraceIdRatioBased, limits and folding (also across a reopened store)."""

from __future__ import annotations

import logging
import random
import textwrap

import pytest
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from otel_label_studio.reading.record import LLMRecord, Message
from otel_label_studio.reading.spanview import SpanView
from otel_label_studio.rules import (
    KEPT,
    NO_RULE,
    NOT_LLM,
    OVER_LIMIT,
    SAMPLED_OUT,
    MemoryReviewState,
    ReviewGate,
    RulesError,
    SqliteReviewState,
    load_file,
    open_gate,
    parse,
    read_folded,
    record_fingerprint,
    state_path_for,
)
from tests.support.prerequisites import REPO_ROOT

PREFIX = "traceloop.association.properties"
DAY = 86_400.0
NOON = 1_796_040_000.0  # 2026-11-30 12:00:00 UTC

ISSUE_EXAMPLE = """\
rules:                         # in order; the first rule whose match holds decides for the span
  - name: failures
    match: {status: error}     # failed calls (their task shows the error)
    sample: 1.0
  - name: slow-gpt4o
    match:
      model: "gpt-4o*"         # glob
      latency_ms: ">2000"      # comparisons: > >= < <= == !=
      service.name: [checkout, search]   # a list means any of
    sample: 0.5
    limit: 200/day             # at most this many tasks per day (or /hour) from this rule and project
    project: "Slow-%Y-%m"      # optional: its own project (strftime'd, as project_name)
  - name: everything-else
    sample: 0.01
fold_duplicates: 24h           # the same prompt and response again within this window -> no new task
"""


class Clock:
    def __init__(self, now: float = NOON):
        self.now = now

    def __call__(self) -> float:
        return self.now


def view(
    *,
    trace_id: str = "0" * 32,
    model: str = "gpt-4o-mini",
    status: str = "UNSET",
    latency_ms: float = 850,
    service: str = "checkout",
    attributes: dict | None = None,
    resource: dict | None = None,
) -> SpanView:
    start = 1_700_000_000_000_000_000
    return SpanView(
        trace_id,
        "0123456789abcdef",
        "ChatOpenAI.chat",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": 420,
            "gen_ai.usage.output_tokens": 96,
            f"{PREFIX}.user_id": "user-17",
            **(attributes or {}),
        },
        start,
        start + int(latency_ms * 1_000_000),
        status,
        resource={"service.name": service, **(resource or {})},
    )


def gate_for(text: str, state=None, clock=None, default_project="LangChain-%Y-%m-%d") -> ReviewGate:
    return ReviewGate(
        parse(textwrap.dedent(text), "rules.yaml"),
        state,
        metadata_prefix=PREFIX,
        default_project=default_project,
        clock=clock or Clock(),
    )


def matches(pattern_yaml: str, span: SpanView) -> bool:
    """Whether a one-rule file with this match keeps the span (sample 1.0)."""
    gate = gate_for(f"rules:\n  - name: r\n    match: {pattern_yaml}\n")
    return gate.decide(span).reason == KEPT


# --- the language ---------------------------------------------------------------------------------


def test_the_issue_example_reads_as_written():
    rules = parse(ISSUE_EXAMPLE, "rules.yaml")
    assert [r.name for r in rules.rules] == ["failures", "slow-gpt4o", "everything-else"]
    slow = rules.rules[1]
    assert [c.key for c in slow.conditions] == ["model", "latency_ms", "service.name"]
    assert (slow.sample, str(slow.limit), slow.project, slow.line) == (0.5, "200/day", "Slow-%Y-%m", 5)
    assert rules.rules[2].conditions == () and rules.rules[2].sample == 0.01
    assert rules.fold_seconds == DAY and rules.include_errors is False
    assert rules.rules[0].keeps_errors and not slow.keeps_errors


@pytest.mark.parametrize(
    "pattern, kept",
    [
        ('{model: "gpt-4o-mini"}', True),  # exact
        ('{model: "gpt-4o"}', False),
        ('{model: "gpt-4o*"}', True),  # glob
        ('{model: "gpt-?o-mini"}', True),
        ('{model: "claude-*"}', False),
        ('{model: "GPT-4o*"}', False),  # case-sensitive
        ('{latency_ms: ">800"}', True),
        ('{latency_ms: ">850"}', False),
        ('{latency_ms: ">=850"}', True),
        ('{latency_ms: "<850"}', False),
        ('{latency_ms: "<=850"}', True),
        ('{latency_ms: "==850"}', True),
        ('{latency_ms: "!=850"}', False),
        ('{input_tokens: "> 400"}', True),
        ("{input_tokens: 420}", True),  # a number: equal
        ("{total_tokens: 516}", True),  # input + output when the span gives no total
        ("{output_tokens: 95.5}", False),
        ("{service.name: [search, checkout]}", True),  # a list: any of
        ('{service.name: [search, "check*"]}', True),
        ("{service.name: [search, billing]}", False),
        ("{metadata.user_id: user-17}", True),
        ('{metadata.user_id: "user-1?"}', True),
        ("{metadata.user_id: {exists: true}}", True),
        ("{metadata.tier: {exists: false}}", True),
        ("{metadata.tier: {exists: true}}", False),
        ('{metadata.tier: "!=3"}', False),  # a comparison never holds for a missing value
        ("{app.flag: true}", True),  # a bool attribute
        ("{app.flag: false}", False),
        ('{app.count: ">2"}', True),  # an int attribute compared
        ('{app.count: "3"}', True),  # quoted text against an int attribute: by its text
        ('{app.text_number: "<10"}', True),  # numeric text compared as a number
        ('{app.text_number: ">10"}', False),
        ("{dialect: genai, operation: chat, provider: {exists: false}}", True),
        ("{status: ok}", True),
        ("{status: error}", False),
        ("{status: ERROR}", False),
        ('{model: "gpt-4o*", latency_ms: ">2000"}', False),  # every key must hold
    ],
)
def test_every_pattern_kind(pattern, kept):
    span = view(attributes={"app.flag": True, "app.count": 3, "app.text_number": "7.5"})
    assert matches(pattern, span) is kept


def test_status_error_matches_a_failed_call_and_keeps_its_error():
    failed = view(status="ERROR")
    assert matches("{status: error}", failed)
    assert matches("{status: Error}", failed)
    assert not matches("{status: ok}", failed)
    gate = gate_for("rules:\n  - name: failures\n    match: {status: error}\n  - name: rest\n")
    assert gate.decide(failed).keep_errors is True
    assert gate.decide(view()).keep_errors is False  # "rest" names no status
    everywhere = gate_for("include_errors: true\nrules:\n  - name: rest\n")
    assert everywhere.decide(failed).keep_errors is True
    per_rule = gate_for("rules:\n  - name: rest\n    include_errors: true\n")
    assert per_rule.decide(failed).keep_errors is True


def test_the_first_rule_that_matches_decides():
    gate = gate_for(
        """\
        rules:
          - name: gpt
            match: {model: "gpt-*"}
            sample: 0
          - name: checkout
            match: {service.name: checkout}
          - name: slow
            match: {latency_ms: ">1000"}
        """
    )
    assert gate.decide(view())[:4] == (False, "gpt", None, SAMPLED_OUT)  # gpt wins though checkout matches
    assert gate.decide(view(model="claude")).rule == "checkout"
    assert gate.decide(view(model="claude", service="x", latency_ms=2000)).rule == "slow"
    decision = gate.decide(view(model="claude", service="x"))
    assert decision[:4] == (False, None, None, NO_RULE)
    counts = gate.counts()
    assert counts.no_rule == 1
    assert (counts.rules["gpt"].matched, counts.rules["gpt"].sampled_out) == (1, 1)
    assert counts.rules["checkout"].matched == 1 and counts.rules["slow"].matched == 1


def test_a_span_no_dialect_claims_is_not_counted():
    gate = gate_for("rules:\n  - name: all\n")
    chain = SpanView("0" * 32, "1" * 16, "RunnableSequence", {"traceloop.span.kind": "workflow"})
    assert gate.decide(chain).reason == NOT_LLM
    assert gate.counts().rules["all"].matched == 0 and gate.counts().no_rule == 0


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("rulez: []\n", 1, "unknown key 'rulez' in the rules file (did you mean 'rules'?)"),
        (
            "rules:\n  - name: a\n    sampel: 0.5\n",
            3,
            "unknown key 'sampel' in rule 'a' (did you mean 'sample'?)",
        ),
        (
            "rules:\n  - name: a\n    match:\n      modle: gpt\n",
            4,
            "unknown match key 'modle' in rule 'a' (did you",
        ),
        ("rules:\n  - name: a\n    match: {model: {exist: true}}\n", 3, "unknown key 'exist'"),
        ("rules:\n  - name: a\n    sample: 1.5\n", 3, "sample of rule 'a' must be a number from 0 to 1"),
        ("rules:\n  - name: a\n    sample: yes\n", 3, "sample of rule 'a' must be a number"),
        ("rules:\n  - name: a\n    limit: 200/week\n", 3, "limit of rule 'a' must look like `200/day`"),
        ("rules:\n  - name: a\nfold_duplicates: 24\n", 3, "fold_duplicates must be a duration such as 24h"),
        ("rules:\n  - name: a\n  - name: a\n", 3, "rule name 'a' is also used at line 2"),
        ("rules:\n  - name: a\n    name: b\n", 3, "'name' is given twice"),
        ("rules:\n  - name: a\n    match: {latency_ms: '>>2'}\n", 3, "is not a comparison"),
        ("rules:\n  - name: a\n    match: {status: failed}\n", 3, "status in rule 'a' is `error`"),
        ("rules:\n  - name: a\n    match: {model: }\n", 3, "has no value"),
        ("rules:\n  - name: a\n    match: {service.name: []}\n", 3, "is empty"),
        ("rules:\n  - name: a\n    match: [model]\n", 3, "must be a mapping"),
        ("rules:\n  - name: a\n    project: ''\n", 3, "project of rule 'a' must be a project title"),
        ("rules:\n  - name: a\n    include_errors: maybe\n", 3, "must be true or false"),
        ("rules:\n  - name: a\n   sample: 1\n", 3, "not valid YAML"),
        ("include_errors: true\n", 1, "needs a `rules:` list"),
        ("rules: []\n", 1, "`rules:` must be a list of rules"),
    ],
)
def test_a_mistake_names_the_line_and_what_to_fix(text, line, words):
    with pytest.raises(RulesError) as caught:
        parse(text, "rules.yaml")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"rules.yaml, line {line}: ")
    assert words in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_file_is_read_with_its_name_in_every_error(tmp_path):
    good = tmp_path / "rules.yaml"
    good.write_text(ISSUE_EXAMPLE)
    assert len(load_file(str(good)).rules) == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: a\n    limit: lots\n")
    with pytest.raises(RulesError, match=rf"^{bad}, line 3: limit of rule 'a'"):
        load_file(str(bad))
    with pytest.raises(RulesError, match="the rules file cannot be read"):
        load_file(str(tmp_path / "missing.yaml"))
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(RulesError, match="is empty"):
        load_file(str(empty))


# --- sampling: exactly the SDK's TraceIdRatioBased ---------------------------------------------------


@pytest.mark.parametrize("rate", [0.0, 1e-6, 0.01, 0.1, 0.25, 1 / 3, 0.5, 0.9, 0.999999, 1.0])
def test_sampling_agrees_with_the_sdk_on_random_and_boundary_trace_ids(rate):
    gate = gate_for(f"rules:\n  - name: r\n    sample: {rate!r}\n")
    sdk = TraceIdRatioBased(rate)
    rng = random.Random(rate)
    ids = [rng.getrandbits(128) for _ in range(20_000)]
    bound = sdk.bound
    for low in (bound - 1, bound, bound + 1, 0, (1 << 64) - 1):  # the boundary, whatever the high bits
        if 0 <= low < 1 << 64:
            ids += [(rng.getrandbits(64) << 64) | low, low]
    kept = 0
    for trace_id in ids:
        ours = gate.decide(view(trace_id=format(trace_id, "032x"))).keep
        theirs = sdk.should_sample(None, trace_id, "span").decision.is_sampled()
        assert ours is theirs, (rate, format(trace_id, "032x"))
        kept += ours
    if 0 < rate < 1:
        assert abs(kept / len(ids) - rate) < 0.02 + rate * 0.1


def test_every_span_of_a_trace_gets_the_same_answer():
    gate = gate_for("rules:\n  - name: r\n    sample: 0.5\n")
    for trace in range(200):
        trace_id = format(random.Random(trace).getrandbits(128), "032x")
        answers = {gate.decide(view(trace_id=trace_id, model=f"m{i}")).keep for i in range(5)}
        assert len(answers) == 1


# --- limits -------------------------------------------------------------------------------------------


def record(
    prompt: str = "What is the capital of France?", answer: str = "Paris.", span_id: str = "1"
) -> LLMRecord:
    return LLMRecord("0" * 32, span_id.rjust(16, "0"), "chat", "genai", [Message("user", prompt)], [answer])


def offer(gate: ReviewGate, span: SpanView, rec: LLMRecord | None = None) -> str:
    """What becomes of one span: decided, then (when kept) admitted as the wiring will do it."""
    decision = gate.decide(span)
    if not decision.keep:
        return decision.reason
    return KEPT if gate.admit(decision, rec or record(span_id=str(random.getrandbits(32)))) else "refused"


LIMITED = """\
rules:
  - name: gpt
    match: {model: "gpt-*"}
    limit: 3/day
    project: "GPT-%Y-%m-%d"
  - name: hourly
    limit: 2/hour
"""


def test_a_daily_limit_counts_per_rule_and_project_and_resets_at_utc_midnight():
    clock = Clock(NOON)
    gate = gate_for(LIMITED, clock=clock)
    outcomes = [offer(gate, view(), record(answer=f"a{i}")) for i in range(5)]
    assert outcomes == [KEPT, KEPT, KEPT, OVER_LIMIT, OVER_LIMIT]
    assert gate.decide(view()).project == "GPT-%Y-%m-%d"
    assert gate.decide(view()).project_key == "GPT-2026-11-30"
    clock.now = NOON + 11.9 * 3600  # 23:54 UTC: the same day
    assert offer(gate, view(), record(answer="late")) == OVER_LIMIT
    clock.now = NOON + 12 * 3600  # 00:00 UTC the next day: a new day and a new project
    assert [offer(gate, view(), record(answer=f"b{i}")) for i in range(4)] == [KEPT] * 3 + [OVER_LIMIT]
    counts = gate.counts().rules["gpt"]
    assert (counts.matched, counts.kept, counts.over_limit) == (12, 6, 6)  # two decide() above


def test_an_hourly_limit_and_a_limit_per_project():
    clock = Clock(NOON)
    gate = gate_for(LIMITED, clock=clock, default_project="Default")
    a = view(model="claude", resource={"label_studio.project": "Team A"})
    b = view(model="claude", resource={"label_studio.project": "Team B"})
    assert [offer(gate, a) for _ in range(3)] == [KEPT, KEPT, OVER_LIMIT]
    assert [offer(gate, b) for _ in range(3)] == [KEPT, KEPT, OVER_LIMIT]
    assert gate.decide(view(model="claude"), project="From header").project_key == "From header"
    clock.now += 3600
    assert offer(gate, a) == KEPT


def test_a_limit_filled_within_one_batch_is_held_after_mapping():
    """Decisions taken before any record was admitted: admit() still holds the limit."""
    gate = gate_for(LIMITED)
    decisions = [gate.decide(view()) for _ in range(5)]
    assert all(d.keep for d in decisions)
    admitted = [gate.admit(d, record(answer=str(i))) for i, d in enumerate(decisions)]
    assert admitted == [True, True, True, False, False]
    assert gate.counts().rules["gpt"].over_limit == 2


def test_limits_survive_a_reopened_store(tmp_path):
    path = str(tmp_path / "review-state.sqlite3")
    clock = Clock(NOON)
    gate = gate_for(LIMITED, SqliteReviewState(path, clock=clock), clock)
    assert [offer(gate, view(), record(answer=str(i))) for i in range(2)] == [KEPT, KEPT]
    gate.commit()
    gate.close()

    reopened = gate_for(LIMITED, SqliteReviewState(path, clock=clock), clock)
    assert [offer(reopened, view(), record(answer=f"x{i}")) for i in range(2)] == [KEPT, OVER_LIMIT]
    reopened.close()  # close commits too
    again = SqliteReviewState(path, clock=clock)
    assert again.count("gpt", "GPT-2026-11-30", "2026-11-30") == 3
    again.close()


def test_without_a_commit_the_store_keeps_only_what_was_committed(tmp_path):
    path = str(tmp_path / "state.sqlite3")
    state = SqliteReviewState(path)
    assert state.take("r", "p", "2026-11-30", 5)
    state.commit()
    assert state.take("r", "p", "2026-11-30", 5)  # not committed: a killed process loses it
    state._db.close()
    assert SqliteReviewState(path).count("r", "p", "2026-11-30") == 1


def test_old_limit_counts_are_dropped_when_the_store_opens(tmp_path):
    path = str(tmp_path / "state.sqlite3")
    clock = Clock(NOON)
    state = SqliteReviewState(path, clock=clock)
    state.take("r", "p", "2026-11-30", 5)
    state.close()
    clock.now += 3 * DAY
    assert SqliteReviewState(path, clock=clock).count("r", "p", "2026-11-30") == 0


def test_the_state_lives_beside_the_spool(tmp_path):
    assert state_path_for(str(tmp_path)) == str(tmp_path / "review-state.sqlite3")
    assert state_path_for(str(tmp_path / "spool.sqlite3")) == str(tmp_path / "spool.review-state.sqlite3")


def test_a_damaged_state_file_is_a_value_error_naming_it(tmp_path):
    path = tmp_path / "review-state.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="review state file .* is damaged"):
        SqliteReviewState(str(path))


# --- folding ------------------------------------------------------------------------------------------

FOLDING = """\
rules:
  - name: all
fold_duplicates: 24h
"""


@pytest.mark.parametrize("state_kind", ["memory", "sqlite"])
def test_a_repeat_within_the_window_is_folded(tmp_path, state_kind):
    clock = Clock(NOON)
    # the state reads the test's clock too: on the wall clock, the window it prunes by is another day's
    state = (
        MemoryReviewState()
        if state_kind == "memory"
        else SqliteReviewState(str(tmp_path / "s.db"), clock=clock)
    )
    gate = gate_for(FOLDING, state, clock, default_project="Reviews")
    assert offer(gate, view(), record("What is  the capital\nof France? ", "Paris.")) == KEPT
    gate.commit()
    # whitespace differs only: the same for a reviewer
    assert offer(gate, view(), record("What is the capital of France?", " Paris. ")) == "refused"
    assert offer(gate, view(), record("What is the capital of France?", "Lyon.")) == KEPT
    assert offer(gate, view(), record("What is the capital of Spain?", "Paris.")) == KEPT
    clock.now += DAY - 1
    assert offer(gate, view(), record("What is the capital of France?", "Paris.")) == "refused"
    clock.now += 1  # the window has passed since the task was made: a new task
    assert offer(gate, view(), record("What is the capital of France?", "Paris.")) == KEPT
    counts = gate.counts().rules["all"]
    assert (counts.kept, counts.folded) == (4, 2)
    assert state.folded_by_project() == {"Reviews": 2}
    gate.close()


def test_folding_survives_a_reopened_store(tmp_path):
    path = str(tmp_path / "s.db")
    clock = Clock(NOON)
    gate = gate_for(FOLDING, SqliteReviewState(path, clock=clock), clock, default_project="Reviews")
    assert offer(gate, view(), record()) == KEPT
    assert offer(gate, view(), record()) == "refused"
    gate.close()
    clock.now += 3600
    reopened = gate_for(FOLDING, SqliteReviewState(path, clock=clock), clock, default_project="Reviews")
    assert offer(reopened, view(), record()) == "refused"
    assert reopened.state.folded_by_project() == {"Reviews": 2}
    reopened.commit()
    assert read_folded(path) == {"Reviews": 2}  # what `spool stats` shows, read-only, while it runs
    reopened.close()
    assert read_folded(str(tmp_path / "none.db")) == {}


def test_a_folded_repeat_does_not_use_the_limit_and_a_refused_record_is_not_remembered():
    gate = gate_for("rules:\n  - name: all\n    limit: 1/day\nfold_duplicates: 1h\n")
    decisions = [gate.decide(view()) for _ in range(3)]
    assert gate.admit(decisions[0], record("q", "a"))
    assert not gate.admit(decisions[1], record("q", "a"))  # folded, not over the limit
    assert not gate.admit(decisions[2], record("other", "b"))  # over the limit
    counts = gate.counts().rules["all"]
    assert (counts.kept, counts.folded, counts.over_limit) == (1, 1, 1)
    # "other" made no task, so it is not a repeat later: only the limit refuses it
    assert gate.state.seen_recently(record_fingerprint(record("other", "b")), NOON, 3600) is False
    assert gate.state.seen_recently(record_fingerprint(record("q", "a")), NOON, 3600) is True


def test_without_fold_duplicates_repeats_make_tasks():
    gate = gate_for("rules:\n  - name: all\n")
    assert [offer(gate, view(), record()) for _ in range(3)] == [KEPT] * 3


def test_counts_flatten_for_the_exporter():
    gate = gate_for(FOLDING)
    offer(gate, view(), record())
    offer(gate, view(), record())
    flat = gate.counts().flat()
    assert flat["review.all.matched"] == 2 and flat["review.all.kept"] == 1
    assert flat["review.all.folded"] == 1 and flat["review.no_rule_matched"] == 0


def test_reload_keeps_the_counters_of_rules_kept_by_name():
    gate = gate_for("rules:\n  - name: a\n    match: {model: x}\n  - name: b\n")
    gate.decide(view())
    gate.reload(parse("rules:\n  - name: b\n    sample: 0\n  - name: c\n"))
    assert gate.decide(view()).reason == SAMPLED_OUT
    counts = gate.counts().rules
    assert counts["b"].matched == 2 and counts["b"].sampled_out == 1 and counts["c"].matched == 0


def test_the_documented_example_is_the_issue_example_and_reads():
    page = (REPO_ROOT / "docs" / "review-rules.md").read_text(encoding="utf-8")
    section = page.split("# Choosing what reviewers see", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert block == ISSUE_EXAMPLE
    names = [rule.name for rule in parse(block, "docs/review-rules.md").rules]
    assert names == ["failures", "slow-gpt4o", "everything-else"]


class ReadLog(dict):
    """Attributes that remember which keys were read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: list[str] = []

    def get(self, key, default=None):
        self.read.append(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.append(key)
        return super().__getitem__(key)

    def __iter__(self):
        self.read.append("<every key>")
        return super().__iter__()

    def items(self):
        self.read.append("<every key>")
        return super().items()


def test_a_dropped_span_costs_only_the_reads_its_rules_need():
    span = view(model="gpt-4o-mini", trace_id="f" * 32)  # the highest trace id: sampled out below 1.0
    attributes = ReadLog(span.attributes)
    span.attributes = attributes
    gate = gate_for(
        """\
        rules:
          - name: cheap
            match: {model: "claude*"}
          - name: rest
            sample: 0.5
        """
    )
    assert gate.decide(span, "genai").reason == SAMPLED_OUT
    assert attributes.read == ["gen_ai.response.model", "gen_ai.request.model"]  # no message, no metadata
    attributes.read.clear()
    assert gate_for("rules:\n  - name: rest\n    sample: 0.1\n").decide(span, "genai").reason == SAMPLED_OUT
    assert attributes.read == []  # a rule without match reads no attribute at all


def test_concurrent_admits_hold_a_limit_exactly(tmp_path):
    import threading

    gate = gate_for("rules:\n  - name: all\n    limit: 50/hour\n", SqliteReviewState(str(tmp_path / "s.db")))
    decisions = [gate.decide(view()) for _ in range(400)]
    admitted: list[bool] = []

    def admit(chunk):
        for i, decision in chunk:
            admitted.append(gate.admit(decision, record(answer=str(i))))

    threads = [threading.Thread(target=admit, args=(list(enumerate(decisions))[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert admitted.count(True) == 50 and gate.counts().rules["all"].over_limit == 350
    gate.close()


def test_open_gate_keeps_its_state_beside_the_spool(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: all\n    limit: 1/day\n")
    args = {"metadata_prefix": PREFIX, "project_id": 7, "project_name": "unused"}
    gate = open_gate(str(rules), spool_path=str(tmp_path), **args)
    decision = gate.decide(view())
    assert decision.project_key == "#7" and gate.admit(decision, record())
    gate.close()
    assert (tmp_path / "review-state.sqlite3").exists()
    again = open_gate(str(rules), spool_path=str(tmp_path), **args)
    assert again.decide(view()).reason == OVER_LIMIT  # the day's one task was made before the restart
    again.close()
    in_memory = open_gate(str(rules), **args)
    assert not isinstance(in_memory.state, SqliteReviewState)  # no spool: in memory
    rules.write_text("rules:\n  - name: all\n    limit: lots\n")
    with pytest.raises(RulesError, match=r"line 3: limit of rule 'all'"):
        open_gate(str(rules), **args)


def test_a_bad_file_on_reload_keeps_the_rules_in_force(tmp_path, caplog):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: none\n    sample: 0\n")
    gate = open_gate(str(rules), metadata_prefix=PREFIX, project_id=None, project_name="P")
    rules.write_text("rules:\n  - name: all\n    sampel: 1\n")
    assert gate.reload_file(str(rules)) is False
    assert "not reloaded" in caplog.text and "line 3: unknown key 'sampel'" in caplog.text
    assert gate.decide(view()).reason == SAMPLED_OUT  # still the old rules
    rules.write_text("rules:\n  - name: all\n")
    assert gate.reload_file(str(rules)) is True
    assert gate.decide(view()).reason == KEPT


def test_a_reload_is_logged_at_info_and_a_refused_one_at_error(tmp_path, caplog):
    """A successful SIGHUP reload is a normal operation: it was logged at WARNING."""
    caplog.set_level(logging.INFO, logger="otel_label_studio")
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: none\n    sample: 0\n")
    gate = open_gate(str(rules), metadata_prefix=PREFIX, project_id=None, project_name="P")
    rules.write_text("rules:\n  - name: all\n")
    assert gate.reload_file(str(rules)) is True
    rules.write_text("rules:\n  - name: all\n    sampel: 1\n")
    assert gate.reload_file(str(rules)) is False
    levels = [
        (r.levelname, r.getMessage().split(":")[0]) for r in caplog.records if "reloaded" in r.getMessage()
    ]
    assert levels == [
        ("INFO", f"Review rules reloaded from {rules}"),
        ("ERROR", "Review rules not reloaded, the rules in force stay"),
    ]
