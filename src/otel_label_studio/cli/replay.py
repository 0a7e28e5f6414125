"""``otel-label-studio replay``: backfill spans saved to files (the Collector's file exporter)."""

from __future__ import annotations

import argparse

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .. import config, logs
from ..durable import DamagedFile
from ..layouts import Layout
from ..pair_layout import PairLayout
from ..queue import RecordQueue
from ..spool import Spool
from .foreground import deliver_in_foreground
from .options import PROJECT_SETTINGS, Commands, add_options, project_settings


def add_parser(commands: Commands) -> None:
    replay = commands.add_parser(
        "replay",
        help="backfill: import spans saved as OTLP/JSON lines or OTLP protobuf files",
        description="Import spans saved to files (what the Collector's file exporter writes: OTLP/JSON "
        "lines, or length-prefixed OTLP protobuf) as Label Studio tasks, with a progress bar.",
        epilog="Replaying the same files twice makes their tasks twice, unless --data-dir names a spool "
        "kept between replays (not one a running serve uses): spans are deduplicated there.",
    )
    replay.add_argument(
        "files", nargs="+", metavar="FILE", help="OTLP/JSON (.json, .jsonl) or OTLP protobuf files"
    )
    add_options(replay, PROJECT_SETTINGS)
    replay.add_argument(
        "--data-dir",
        dest="replay_data_dir",
        metavar="DIR",
        help="keep a spool here to skip spans already replayed (default: none, in memory)",
    )
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")
    replay.set_defaults(run=run, parser=replay)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..replay import read_files

    try:
        requests = read_files(args.files)
    except ValueError as exc:
        parser.error(str(exc))
    settings, layout = project_settings(args, parser)
    if isinstance(layout, PairLayout):
        parser.error(
            "replay does not form pairs: replay with --mode prompt or chat, or send the traffic to "
            "`serve --mode pairwise`"
        )
    logs.configure("WARNING", "text", secrets=(settings.api_key,))
    try:
        return backfill(
            settings, layout, requests, data_dir=args.replay_data_dir, progress=not args.no_progress
        )
    except DamagedFile as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")


def backfill(
    settings: config.Settings,
    layout: Layout,
    requests: list[ExportTraceServiceRequest],
    *,
    data_dir: str | None,
    progress: bool,
) -> int:
    """Map the requests and deliver them, showing progress; 0 when every record became a task."""
    from ..bridge import build_bridge
    from ..memory_queue import MemoryQueue
    from ..spanview import from_otlp

    queue: RecordQueue = Spool.in_directory(data_dir) if data_dir else MemoryQueue(max_records=10**9)
    bridge = build_bridge(settings, layout, queue)
    for request in requests:
        bridge.ingest.enqueue(bridge.ingest.map(from_otlp(request)))
    if bridge.ingest.runs is not None:  # mode agent: the files hold whole runs, release them all now
        bridge.ingest.runs.release_ready(everything=True)
    spans, records = bridge.ingest.stats.spans_received, bridge.ingest.stats.records_spooled
    left = deliver_in_foreground(bridge, queue, records, "replay", progress)
    stats = bridge.worker.stats
    print(
        f"{spans} spans read, {records} new LLM records: {stats.tasks_created} tasks created, "
        f"{stats.dead_lettered} dead letters" + (f", {left} not delivered" if left else "")
    )
    return 0 if not left and not stats.dead_lettered else 1
