"""``otel-label-studio replay``: backfill spans saved to files (the Collector's file exporter).

With review rules (``--review-rules``) each replayed span is decided by the same gate as in
``serve``, on the same ingest path; the counts per rule are printed at the end, as ``rules
check`` prints them. The rules' limits and folded repeats are kept in memory for the one replay,
or beside the spool when ``--data-dir`` names one (so a later replay into it continues them).
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import TYPE_CHECKING, cast

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .. import config, logs
from ..ingest import IngestStats
from ..modes.layouts import Layout
from ..modes.units import unit_for
from ..reading.mapping import MappingResult
from ..store.durable import DamagedFile
from ..store.queue import RecordQueue
from ..store.spool import Spool
from .errors import CommandError, check_delivery, counted
from .foreground import deliver_in_foreground
from .options import PROJECT_SETTINGS, Commands, add_options, project_layout, read_options

if TYPE_CHECKING:
    from ..rules import ReviewGate  # start-up time: loaded only when this command runs
    from .rules import DryRun  # start-up time: loaded only when this command runs

#: Replay delivers to a project, and may decide each span by review rules as serve does.
REPLAY_SETTINGS = (*PROJECT_SETTINGS, "review_rules")

#: The modes replay takes: it does not form pairs (that needs pair_wait over live traffic).
REPLAY_MODES = ("prompt", "chat", "agent")


def add_parser(commands: Commands) -> None:
    replay = commands.add_parser(
        "replay",
        help="backfill: import spans saved as OTLP/JSON lines or OTLP protobuf files",
        description="Import spans saved to files (what the Collector's file exporter writes: OTLP/JSON "
        "lines, or length-prefixed OTLP protobuf) as Label Studio tasks, with a progress bar.",
        epilog="Replaying the same files twice makes their tasks twice, unless --data-dir names a spool "
        "kept between replays (not one a running serve uses): spans are deduplicated there. With "
        "--review-rules each span is decided as serve decides it and the counts per rule are printed "
        "at the end (as `rules check` predicts them); the rules' limits and folded repeats live in "
        "memory for this replay, or beside the spool of --data-dir, continued by later replays into it.",
    )
    replay.add_argument(
        "files", nargs="+", metavar="FILE", help="OTLP/JSON (.json, .jsonl) or OTLP protobuf files"
    )
    add_options(
        replay,
        REPLAY_SETTINGS,
        help={
            "mode": "what a task is and the layout of new projects: prompt or chat (one LLM call), agent "
            "(one LangChain run, its steps in order); not pairwise: replay does not form pairs"
        },
        choices={"mode": REPLAY_MODES},
    )
    replay.add_argument(
        "--data-dir",
        dest="replay_data_dir",
        metavar="DIR",
        help="keep a spool here to skip spans already replayed (default: none, in memory)",
    )
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")
    replay.set_defaults(run=run, parser=replay)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..receiver.replay import read_files  # start-up time: loaded only when this command runs

    try:
        requests = read_files(args.files)
    except ValueError as exc:
        parser.error(str(exc))
    settings = read_options(args, parser, REPLAY_SETTINGS)
    if not unit_for(settings.mode).replays:
        parser.error(  # the variable's pairwise: the option takes only REPLAY_MODES
            f"{config.spec('mode').env}=pairwise: replay does not form pairs: replay with --mode "
            "prompt, chat or agent, or send the traffic to `serve --mode pairwise`"
        )
    layout = cast(Layout, project_layout(settings, parser))  # a unit that replays shapes single records
    logs.configure("WARNING", "text", secrets=(settings.api_key,))
    check_delivery(settings)  # a wrong URL, key or project id: said at once, not after a minute of retries
    try:
        return backfill(
            settings,
            layout,
            requests,
            data_dir=args.replay_data_dir,
            progress=not args.no_progress,
            files=args.files,
        )
    except (DamagedFile, ValueError) as exc:  # a damaged spool or review state file
        raise CommandError(str(exc)) from None


def backfill(
    settings: config.Settings,
    layout: Layout,
    requests: list[ExportTraceServiceRequest],
    *,
    data_dir: str | None,
    progress: bool,
    files: list[str] | None = None,
) -> int:
    """Map the requests and deliver them, showing progress; 0 when every record became a task."""
    from ..bridge import build_bridge  # start-up time: loaded only when this command runs
    from ..reading.spanview import from_otlp  # start-up time: loaded only when this command runs
    from ..store.memory_queue import MemoryQueue  # start-up time: loaded only when this command runs

    queue: RecordQueue = Spool.in_directory(data_dir) if data_dir else MemoryQueue(max_records=10**9)
    try:  # review rules: their state beside the spool, else in memory for this replay
        bridge = build_bridge(settings, layout, queue, review_state=data_dir)
    except BaseException:
        queue.close()
        raise
    projects: dict[str, Counter[str]] = {}
    for request in requests:
        result = bridge.ingest.map(from_otlp(request, lazy=bridge.gate is not None))
        bridge.ingest.enqueue(result)
        _tally_projects(result, projects)
    if bridge.ingest.runs is not None:  # mode agent: the files hold whole runs, release them all now
        bridge.ingest.runs.release_ready(everything=True)
    bridge.ingest.close()  # the review state, written
    spans, records = bridge.ingest.stats.spans_received, bridge.ingest.stats.records_spooled
    left = deliver_in_foreground(bridge, queue, records, "replay", progress)
    stats = bridge.worker.stats
    print(
        f"{counted(spans, 'span')} read, {counted(records, 'new LLM record')}: "
        f"{counted(stats.tasks_created, 'task')} created, {counted(stats.dead_lettered, 'dead letter')}"
        + (f", {left} not delivered" if left else "")
    )
    if bridge.gate is not None and settings.review_rules:
        from .rules import table  # start-up time: loaded only when this command runs

        outcome = review_outcome(bridge.gate, bridge.ingest.stats, projects)
        print()
        print(table(settings.review_rules, files or [], outcome))
    return 0 if not left and not stats.dead_lettered else 1


def _tally_projects(result: MappingResult, projects: dict[str, Counter[str]]) -> None:
    """The project each admitted record goes to, per rule (as ``rules check`` shows them)."""
    for decision, _record in result.admitted:
        projects.setdefault(decision.rule, Counter())[decision.project_key] += 1


def review_outcome(gate: ReviewGate, stats: IngestStats, projects: dict[str, Counter[str]]) -> DryRun:
    """What each rule did in this replay, in the shape of ``rules check``'s dry run."""
    from .rules import DryRun, RuleOutcome  # start-up time: loaded only when this command runs

    counts = gate.counts()
    outcome = DryRun(spans=stats.spans_received, llm_spans=stats.llm_spans, no_rule=counts.no_rule)
    for name, rule in counts.rules.items():
        decided = rule.sampled_out + rule.over_limit + rule.folded + rule.kept
        outcome.rules[name] = RuleOutcome(
            matched=rule.matched,
            kept_by_sampling=rule.matched - rule.sampled_out,
            cut_by_limit=rule.over_limit,
            folded=rule.folded,
            not_a_task=max(0, rule.matched - decided),  # kept, but nothing to label (or a failure)
            tasks=rule.kept,
            projects=projects.get(name, Counter()),
        )
    return outcome
