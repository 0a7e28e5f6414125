"""``otel-label-studio rules check``: validate a review-rules file and, given captured spans, show
what it would do to them (per rule: matched, kept by sampling, cut by the limit, folded, tasks and
their projects) without Label Studio.

The dry run decides, maps, redacts and folds exactly as the bridge does, with a fresh in-memory
state and the current time: the same capture sent to a fresh ``serve`` gives the same counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .. import config
from .errors import CommandError, counted
from .options import Commands, add_options, help_text

if TYPE_CHECKING:
    from ..reading.spanview import SpanView  # start-up time: loaded only when this command runs
    from ..rules import Rule, RuleSet  # start-up time: loaded only when this command runs

REVIEW_RULES_ENV = config.spec("review_rules").env


def add_parser(commands: Commands) -> None:
    rules = commands.add_parser(
        "rules",
        help="review rules: check a rules file and see its effect on captured spans",
        description="Review rules decide which LLM spans become tasks (see docs/review-rules.md in the "
        "repository: Choosing what reviewers see).",
    )
    actions = rules.add_subparsers(dest="rules_command", metavar="ACTION")
    actions.required = True
    check = actions.add_parser(
        "check",
        help="validate a rules file; with captures, print what each rule would do to them",
        description="Validate a review-rules file. Given captured spans (what `replay` reads: OTLP/JSON "
        "lines or OTLP protobuf files), print per rule the spans matched, kept by sampling, cut by "
        "the limit and folded, and the projects the tasks would go to. Needs no Label Studio.",
        epilog="Exit status: 0 when the file is valid, 2 with the file and line of a mistake.",
    )
    check.add_argument(
        "captures", nargs="*", metavar="CAPTURE", help="OTLP/JSON (.json, .jsonl) or OTLP protobuf files"
    )
    check.add_argument(
        "--review-rules",
        metavar="PATH",
        default=None,
        help=f"the rules file (required, here or in {REVIEW_RULES_ENV})",
    )
    check.add_argument("--project-id", metavar="ID", default=None, help=help_text("project_id", "as serve's"))
    check.add_argument(
        "--project-name",
        metavar="TITLE",
        default=None,
        help=help_text("project_name", "as serve's, strftime'd"),
    )
    check.add_argument(
        "--metadata-prefix",
        metavar="PREFIX",
        default=None,
        help=help_text("metadata_prefix", "as serve's"),
    )
    check.add_argument(
        "--include-errors",
        action="store_true",
        default=None,
        help=help_text("include_errors", "as serve's: every failed call kept by a rule is a task"),
    )
    add_options(
        check,
        ("mode",),
        help={"mode": "as serve's: run.* keys need agent (whole runs); pairwise takes no rules"},
    )
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.set_defaults(run=run, parser=check)


@dataclass
class RuleOutcome:
    matched: int = 0
    kept_by_sampling: int = 0
    cut_by_limit: int = 0
    folded: int = 0
    not_a_task: int = 0  # kept, but the span has nothing to label (or is a failure not asked for)
    tasks: int = 0
    projects: Counter[str] = field(default_factory=Counter)


@dataclass
class DryRun:
    spans: int = 0
    llm_spans: int = 0
    no_rule: int = 0
    rules: dict[str, RuleOutcome] = field(default_factory=dict)
    picked: Counter[str] = field(default_factory=Counter)  # with a budget: picks by reason
    weights: dict[str, float] = field(default_factory=dict)  # with a budget: the sum of weights by reason


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..modes.units import unit_for  # start-up time: loaded only when this command runs
    from ..rules import RulesError, load_file  # start-up time: loaded only when this command runs

    path = args.review_rules or config.env_str(REVIEW_RULES_ENV)
    if not path:
        parser.error(f"give the rules file: --review-rules PATH (or {REVIEW_RULES_ENV})")
    try:
        rules = load_file(path)
    except RulesError as exc:
        raise CommandError(str(exc)) from None
    try:
        settings = config.resolve_settings(
            project_id=args.project_id,
            project_name=args.project_name,
            metadata_prefix=args.metadata_prefix,
            include_errors=args.include_errors,
        )
    except ValueError as exc:
        parser.error(str(exc))
    try:  # serve's checks of the file against the mode (run.* keys, pairwise)
        mode = config.read_settings(
            ("mode", "review_rules"), flags={"mode": args.mode, "review_rules": path}, environ=os.environ
        ).mode
    except config.SettingsError as exc:
        raise CommandError(str(exc)) from None
    unit = unit_for(mode)
    note = unit.rules_note
    if note is not None:  # on stdout, unless it must hold JSON alone
        print(
            note
            + (
                "; the table decides the captured LLM calls one by one (runs are not assembled), "
                "so it is not a prediction of the tasks"
                if args.captures
                else ""
            ),
            file=sys.stderr if args.json else sys.stdout,
        )
    if not args.captures:
        print(f"{path}: valid, {counted(len(rules.rules), 'rule')}")
        for rule in rules.rules:
            print(f"  {_describe(rule, unit.rules_every)}")
        if rules.budget is not None:
            spec = rules.budget
            print(
                f"  budget (line {spec.line}): {spec} in windows of {spec.window:g}s, explore "
                f"{spec.explore:.0%}, priority {', '.join(spec.priority)}"
            )
        return 0
    requests = _read_captures(args.captures, parser)
    outcome = dry_run(rules, settings, requests)
    if args.json:
        print(json.dumps(_as_json(path, outcome)))
    else:
        print(table(path, args.captures, outcome))
    return 0


def dry_run(
    rules: RuleSet, settings: config.Settings, requests: Iterable[ExportTraceServiceRequest]
) -> DryRun:
    """Decide, map, redact and admit every span as the bridge does; count what each rule did."""
    from ..reading import dialects  # start-up time: loaded only when this command runs
    from ..reading.mapping import Mapper  # start-up time: loaded only when this command runs
    from ..reading.redact import Redactor  # start-up time: loaded only when this command runs
    from ..reading.spanview import from_otlp  # start-up time: loaded only when this command runs
    from ..rules import KEPT, OVER_LIMIT, SAMPLED_OUT, ReviewGate  # start-up time

    default_project = f"#{settings.project_id}" if settings.project_id is not None else settings.project_name
    gate = ReviewGate(rules, metadata_prefix=settings.metadata_prefix, default_project=default_project)
    redactor = Redactor(settings.redact, builtin=settings.redact_builtin)
    mappers = {
        wanted: Mapper(metadata_prefix=settings.metadata_prefix, include_errors=wanted, redactor=redactor)
        for wanted in (False, True)
    }
    result = DryRun(rules={rule.name: RuleOutcome() for rule in rules.rules})
    offers: list[tuple[float, SpanView, str | None]] = []  # with a budget: (time, view, rule if a task)
    for request in requests:
        for view in from_otlp(request, lazy=True):
            result.spans += 1
            dialect = dialects.dialect_for(view)
            if dialect is None:
                continue
            result.llm_spans += 1
            decision = gate.decide(view, dialect.name)
            if rules.budget is not None and mappers[settings.include_errors].map([view]).records:
                offers.append((view.end_time_unix_nano / 1e9, view, None))  # explore may take it
            if decision.rule is None:
                result.no_rule += 1
                continue
            outcome = result.rules[decision.rule]
            outcome.matched += 1
            if decision.reason == SAMPLED_OUT:
                continue
            outcome.kept_by_sampling += 1
            if decision.reason == OVER_LIMIT:
                outcome.cut_by_limit += 1
                continue
            assert decision.reason == KEPT
            mapped = mappers[decision.keep_errors or settings.include_errors].map([view])
            if not mapped.records:
                outcome.not_a_task += 1
                continue
            record = mapped.records[0]
            if decision.project:
                record.project = decision.project
            if gate.admit(decision, record):
                outcome.tasks += 1
                outcome.projects[decision.project_key] += 1
                if offers and offers[-1][1] is view:
                    offers[-1] = (offers[-1][0], view, decision.rule)
    if rules.budget is not None:
        _spend(rules, offers, result)
    counts = gate.counts()
    for name, outcome in result.rules.items():
        outcome.folded = counts.rules[name].folded
        outcome.cut_by_limit = counts.rules[name].over_limit  # before mapping, and when a batch filled it
    return result


def _spend(rules: RuleSet, offers: list[tuple[float, SpanView, str | None]], result: DryRun) -> None:
    """What the budget would pick of the tasks the rules made, and of every LLM span for explore, in
    the order the spans ended (their end times are the budget's clock), and why."""
    from ..rules.budget import Budget, Candidate  # start-up time: loaded only when this command runs
    from ..rules.doubt import disagree, margin_of, split  # start-up time: as above
    from ..rules.fields import evaluations  # start-up time: as above

    assert rules.budget is not None
    budget = Budget(rules.budget)
    by_name = {rule.name: rule for rule in rules.rules}
    picks = []
    for at, view, rule_name in sorted(offers, key=lambda offer: offer[0]):
        results = evaluations(view)
        margins = [
            margin_of(results.get(split(c.key)[0]), c.pattern["threshold"])
            for c in (by_name[rule_name].conditions if rule_name else ())
            if split(c.key)[1] == "margin"
        ]
        known = [m for m in margins if m is not None]
        candidate = Candidate(
            view.trace_id,
            view.span_id,
            rule_name,
            disagreement=disagree(results),
            margin=min(known) if known else None,
        )
        picks += budget.offer(candidate, at)[1]
    picks += budget.flush()
    for pick in picks:
        result.picked[pick.reason] += 1
        result.weights[pick.reason] = result.weights.get(pick.reason, 0.0) + pick.weight


def _read_captures(names: list[str], parser: argparse.ArgumentParser) -> list[ExportTraceServiceRequest]:
    from ..receiver.replay import read_files  # start-up time: loaded only when this command runs

    try:
        return read_files(names)
    except ValueError as exc:
        parser.error(str(exc))
    raise AssertionError("not reached: parser.error exits")


def _describe(rule: Rule, every: str = "every LLM span") -> str:
    """A rule in one line; ``every``: what it matches without conditions, in the mode's words."""
    match = ", ".join(f"{c.key}: {c.pattern}" for c in rule.conditions) or every
    parts = [f"{rule.name} (line {rule.line}): {match}; sample {rule.sample:g}"]
    if rule.limit is not None:
        parts.append(f"limit {rule.limit}")
    if rule.project:
        parts.append(f"project {rule.project}")
    return "; ".join(parts)


def _projects(outcome: RuleOutcome) -> str:
    return ", ".join(f"{name} ({count})" for name, count in sorted(outcome.projects.items())) or "-"


def table(path: str, captures: list[str], result: DryRun) -> str:
    """What each rule did, as ``rules check`` and ``replay --review-rules`` print it."""
    heads = (
        "rule",
        "matched",
        "kept by sampling",
        "cut by limit",
        "folded",
        "not a task",
        "tasks",
        "projects",
    )
    rows = [
        (
            name,
            o.matched,
            o.kept_by_sampling,
            o.cut_by_limit,
            o.folded,
            o.not_a_task,
            o.tasks,
            _projects(o),
        )
        for name, o in result.rules.items()
    ]
    widths = [max(len(str(row[i])) for row in (heads, *rows)) for i in range(len(heads))]
    lines = [
        f"{path}: valid, {counted(len(result.rules), 'rule')}. {counted(result.spans, 'span')} in "
        f"{counted(len(captures), 'file')}, "
        + ("1 of them an LLM span." if result.llm_spans == 1 else f"{result.llm_spans} of them LLM spans."),
        "",
        "  ".join(str(h).ljust(widths[i]) for i, h in enumerate(heads)).rstrip(),
    ]
    for row in rows:
        cells = [
            str(cell).rjust(widths[i]) if isinstance(cell, int) else str(cell).ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    tasks = sum(o.tasks for o in result.rules.values())
    lines += ["", f"no rule matched: {counted(result.no_rule, 'LLM span')} (no task)", f"tasks: {tasks}"]
    if result.picked:
        reasons = ", ".join(
            f"{reason} {count} (weights sum {result.weights[reason]:g})"
            for reason, count in sorted(result.picked.items())
        )
        lines.append(f"budget would pick: {sum(result.picked.values())}: {reasons}")
    return "\n".join(lines)


def _as_json(path: str, result: DryRun) -> dict[str, object]:
    return {
        "rules_file": os.path.abspath(path),
        "spans": result.spans,
        "llm_spans": result.llm_spans,
        "no_rule_matched": result.no_rule,
        "rules": {
            name: {
                "matched": o.matched,
                "kept_by_sampling": o.kept_by_sampling,
                "cut_by_limit": o.cut_by_limit,
                "folded": o.folded,
                "not_a_task": o.not_a_task,
                "tasks": o.tasks,
                "projects": dict(sorted(o.projects.items())),
            }
            for name, o in result.rules.items()
        },
        "budget_picks": {
            reason: {"picked": count, "weights": result.weights[reason]}
            for reason, count in sorted(result.picked.items())
        },
    }
