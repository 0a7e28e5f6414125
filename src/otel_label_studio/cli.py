"""``otel-label-studio``: the command line.

``serve`` runs the sidecar receiver; ``spool`` looks into (and re-queues from) its spool.
Every ``serve`` option can also come from the environment; an option given on the command
line wins. A bad value, wherever it came from, stops the command at once with what to fix
(exit status 2), before anything listens.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from . import config, logs
from .bridge import Bridge
from .config import env_str
from .datasets import FORMATS
from .layouts import Layout, layout_for
from .outbox import OUTBOX_FILE, FeedbackOutbox
from .receiver.otlp import DEFAULT_MAX_BODY_BYTES
from .redact import Redactor
from .spool import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, SPOOL_FILE, Spool
from .worker import RecordQueue

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3}


def parse_size(raw: str) -> int:
    """``65536``, ``64MiB``, ``10MB``, ``1GiB`` -> bytes."""
    match = _SIZE.match(raw)
    if not match:
        raise ValueError(f"{raw!r} is not a size (e.g. 1048576, 64MiB, 10MB)")
    unit = (match.group(2) or "").lower().rstrip("b")
    value = int(match.group(1)) * _SIZE_UNITS[unit]
    if value < 1:
        raise ValueError(f"{raw!r} must be at least one byte")
    return value


def parse_port(raw: str) -> int:
    port = int(raw)
    if not 0 <= port <= 65535:
        raise ValueError(f"{raw!r} is not a port number (0-65535)")
    return port


def parse_positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(f"{raw!r} must be a positive whole number")
    return value


def parse_seconds(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError(f"{raw!r} must be a number of seconds, 0 or more")
    return value


def parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"{raw!r} is not one of {', '.join(choices)}")
        return raw

    return parse


def default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "otel-label-studio")


@dataclass(frozen=True)
class Option:
    """A command-line option that the environment can also set."""

    flags: tuple[str, ...]
    dest: str
    env: str | None
    parse: Callable[[str], Any]
    default: Any
    help: str
    metavar: str | None = None

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        where = f"env {self.env}; " if self.env else ""
        shown = self.default() if callable(self.default) else self.default
        parser.add_argument(
            *self.flags,
            dest=self.dest,
            default=None,
            metavar=self.metavar,
            help=f"{self.help} ({where}default: {shown if shown is not None else 'none'})".replace("%", "%%"),
        )

    def value(self, args: argparse.Namespace, parser: argparse.ArgumentParser) -> Any:
        raw = getattr(args, self.dest)
        source = self.flags[0]
        if raw is None and self.env:
            raw, source = env_str(self.env), self.env
        if raw is None:
            return self.default() if callable(self.default) else self.default
        try:
            return self.parse(raw)
        except ValueError as exc:
            parser.error(f"{source}: {exc}")


def _str(raw: str) -> str:
    return raw


def _url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError(f"{raw!r} must start with http:// or https://")
    return raw


SERVE_OPTIONS = (
    Option(
        ("--host",),
        "host",
        config.OTEL_LABEL_STUDIO_HOST,
        _str,
        "127.0.0.1",
        "address to listen on; 0.0.0.0 to accept other machines (then set --auth-token)",
        "ADDR",
    ),
    Option(
        ("--http-port",),
        "http_port",
        config.OTEL_LABEL_STUDIO_HTTP_PORT,
        parse_port,
        4318,
        "OTLP/HTTP port: POST /v1/traces, GET /healthz, /readyz, /metrics",
        "PORT",
    ),
    Option(
        ("--grpc-port",),
        "grpc_port",
        config.OTEL_LABEL_STUDIO_GRPC_PORT,
        parse_port,
        4317,
        "OTLP/gRPC port (TraceService/Export)",
        "PORT",
    ),
    Option(
        ("--url",), "url", config.LABEL_STUDIO_URL, _str, config.DEFAULT_URL, "Label Studio base URL", "URL"
    ),
    Option(
        ("--project-id",),
        "project_id",
        config.LABEL_STUDIO_PROJECT_ID,
        parse_positive_int,
        None,
        "existing project to fill; wins over --project-name",
        "ID",
    ),
    Option(
        ("--project-name",),
        "project_name",
        config.OTEL_LABEL_STUDIO_PROJECT_NAME,
        _str,
        config.DEFAULT_PROJECT_NAME,
        "project title, strftime'd; found by exact title or created",
        "TITLE",
    ),
    Option(
        ("--mode",),
        "mode",
        config.OTEL_LABEL_STUDIO_MODE,
        parse_choice(*config.MODES),
        config.DEFAULT_MODE,
        "layout of new projects: prompt or chat",
        "MODE",
    ),
    Option(
        ("--project-config",),
        "project_config",
        config.OTEL_LABEL_STUDIO_PROJECT_CONFIG,
        _str,
        None,
        "label config XML file for new projects, instead of the layout's",
        "FILE",
    ),
    Option(
        ("--batch-size",),
        "batch_size",
        config.OTEL_LABEL_STUDIO_BATCH_SIZE,
        parse_positive_int,
        config.DEFAULT_BATCH_SIZE,
        "most tasks per import request",
        "N",
    ),
    Option(
        ("--timeout",),
        "timeout",
        config.OTEL_LABEL_STUDIO_TIMEOUT,
        parse_seconds,
        config.DEFAULT_TIMEOUT_SECONDS,
        "seconds one request to Label Studio may take",
        "SECONDS",
    ),
    Option(
        ("--include-errors",),
        "include_errors",
        config.OTEL_LABEL_STUDIO_INCLUDE_ERRORS,
        config.parse_bool,
        False,
        "true: failed LLM calls become tasks showing the error",
        "BOOL",
    ),
    Option(
        ("--redact-builtin",),
        "redact_builtin",
        config.OTEL_LABEL_STUDIO_REDACT_BUILTIN,
        config.parse_bool,
        False,
        "true: mask e-mail addresses and common API-key shapes in prompts and responses",
        "BOOL",
    ),
    Option(
        ("--data-dir",),
        "data_dir",
        config.OTEL_LABEL_STUDIO_DATA_DIR,
        _str,
        default_data_dir,
        "directory of the durable spool (created if missing)",
        "DIR",
    ),
    Option(
        ("--auth-token",),
        "auth_token",
        config.OTEL_LABEL_STUDIO_AUTH_TOKEN,
        _str,
        None,
        "require 'Authorization: Bearer TOKEN' from senders; prefer the env variable, "
        "command lines are visible to other users",
        "TOKEN",
    ),
    Option(
        ("--max-body-bytes",),
        "max_body_bytes",
        config.OTEL_LABEL_STUDIO_MAX_BODY_BYTES,
        parse_size,
        DEFAULT_MAX_BODY_BYTES,
        "largest request, after decompression (e.g. 64MiB); bigger ones get 413",
        "SIZE",
    ),
    Option(
        ("--drain-seconds",),
        "drain_seconds",
        config.OTEL_LABEL_STUDIO_DRAIN_SECONDS,
        parse_seconds,
        10.0,
        "on SIGTERM, how long delivery may keep draining before exit",
        "SECONDS",
    ),
    Option(
        ("--spool-max-rows",),
        "spool_max_rows",
        config.OTEL_LABEL_STUDIO_SPOOL_MAX_ROWS,
        parse_positive_int,
        DEFAULT_MAX_ROWS,
        "records the spool holds before answering 503 (retry later)",
        "N",
    ),
    Option(
        ("--spool-max-bytes",),
        "spool_max_bytes",
        config.OTEL_LABEL_STUDIO_SPOOL_MAX_BYTES,
        parse_size,
        DEFAULT_MAX_BYTES,
        "spool file size before answering 503 (retry later)",
        "SIZE",
    ),
    Option(
        ("--feedback-endpoint",),
        "feedback_endpoint",
        config.OTEL_LABEL_STUDIO_FEEDBACK_ENDPOINT,
        _url,
        None,
        "OTLP/HTTP endpoint for human scores: POST /webhooks/label-studio turns each annotation into a "
        "gen_ai.evaluation.result event on the original span",
        "URL",
    ),
    Option(
        ("--log-format",),
        "log_format",
        config.OTEL_LABEL_STUDIO_LOG_FORMAT,
        parse_choice("json", "text"),
        "json",
        "json (one object per line) or text",
        "FORMAT",
    ),
    Option(
        ("--log-level",),
        "log_level",
        config.OTEL_LABEL_STUDIO_LOG_LEVEL,
        parse_choice("DEBUG", "INFO", "WARNING", "ERROR"),
        "INFO",
        "DEBUG, INFO, WARNING or ERROR",
        "LEVEL",
    ),
)

DATA_DIR_OPTION = SERVE_OPTIONS[[o.dest for o in SERVE_OPTIONS].index("data_dir")]

SERVE_EPILOG = f"""\
The Label Studio key is read from {config.LABEL_STUDIO_API_KEY} only (never from the command line):
a Personal Access Token or a legacy token from Label Studio > Account & Settings.

A request may route its spans to another project: the resource attribute label_studio.project,
or the header (gRPC metadata) x-label-studio-project. Spans whose resource names no project go
to --project-id / --project-name.

Answers 200 only after the spans are in the spool; delivery to Label Studio follows, retried
until it lands. SIGTERM stops listening, drains for --drain-seconds, and exits.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-label-studio",
        description="Turn OpenTelemetry LLM and chat spans into Label Studio tasks.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    serve = commands.add_parser(
        "serve",
        help="receive OTLP (HTTP 4318, gRPC 4317) and deliver LLM spans to Label Studio",
        description="Receive OTLP traces (HTTP and gRPC); turn LLM and chat spans into Label Studio tasks.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for option in SERVE_OPTIONS:
        option.add_to(serve)
    serve.add_argument(
        "--redact",
        action="append",
        metavar="PATTERN",
        help="regular expression masked as [REDACTED] in prompts and responses before a task is made; "
        f"repeatable (env {config.OTEL_LABEL_STUDIO_REDACT}: one pattern or a JSON list; default: none)",
    )
    serve.set_defaults(run=_serve, parser=serve)

    doctor = commands.add_parser(
        "doctor",
        help="check the URL, the key, the project, its config and the receiver's ports",
        description="Check this setup the way serve and the exporter would use it; one line per finding, "
        "each with a fix. Creates and changes nothing. Exit status 1 when something must be fixed.",
    )
    for option in SERVE_OPTIONS:
        if option.dest in DOCTOR_OPTIONS:
            option.add_to(doctor)
    doctor.add_argument("--no-ports", action="store_true", help="skip the receiver port checks")
    doctor.set_defaults(run=_doctor, parser=doctor)

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
    for option in SERVE_OPTIONS:
        if option.dest in PROJECT_OPTIONS:
            option.add_to(replay)
    replay.add_argument(
        "--data-dir",
        dest="replay_data_dir",
        metavar="DIR",
        help="keep a spool here to skip spans already replayed (default: none, in memory)",
    )
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")
    replay.set_defaults(run=_replay, parser=replay)

    export = commands.add_parser(
        "export",
        help="labeled tasks -> JSONL training data: sft, preference pairs or reward scores",
        description="Write a project's labeled tasks as JSONL: sft (OpenAI chat fine-tuning), preference "
        "(TRL conversational pairs from what reviewers changed) or reward (model response and rating). "
        "Only submitted, non-skipped annotations count; the newest annotation of a task wins.",
    )
    export.add_argument("--project-id", type=int, required=True, metavar="ID", help="the project to export")
    export.add_argument("--format", required=True, choices=FORMATS, help="sft, preference or reward")
    export.add_argument(
        "--output", required=True, metavar="FILE", help="JSONL file to write, or - for stdout"
    )
    export.add_argument("--min-rating", type=float, metavar="N", help="only tasks rated at least N")
    export.add_argument("--since", metavar="DATE", help="only annotations made or changed since (ISO 8601)")
    export.add_argument(
        "--only-edited", action="store_true", help="only tasks whose response the reviewer changed"
    )
    export.add_argument("--url", metavar="URL", help=f"Label Studio base URL (env {config.LABEL_STUDIO_URL})")
    export.add_argument("--no-progress", action="store_true", help="no progress bar")
    export.set_defaults(run=_export, parser=export)

    webhook = commands.add_parser(
        "webhook",
        help="register serve's webhook on a project, so human scores flow back into the traces",
        description="Register a Label Studio webhook (annotation created/updated, with payload) that "
        "points at serve's POST /webhooks/label-studio. serve needs --feedback-endpoint.",
    )
    webhook.add_argument("--project-id", type=int, required=True, metavar="ID", help="the project")
    webhook.add_argument(
        "--target",
        required=True,
        metavar="URL",
        help="serve's base URL as Label Studio reaches it, e.g. http://bridge:4318",
    )
    webhook.add_argument(
        "--url", metavar="URL", help=f"Label Studio base URL (env {config.LABEL_STUDIO_URL})"
    )
    webhook.set_defaults(run=_webhook, parser=webhook)

    spool = commands.add_parser(
        "spool",
        help="inspect the spool of a serve process: stats, dead letters, retry",
        description="Inspect the durable spool (works while serve is running).",
    )
    spool_commands = spool.add_subparsers(dest="spool_command", metavar="ACTION")
    spool_commands.required = True
    for name, run, text in (
        ("stats", _spool_stats, "records waiting, age of the oldest, dead letters, feedback events waiting"),
        ("dead-letters", _spool_dead_letters, "tasks Label Studio refused for good, with the reason"),
        ("retry", _spool_retry, "put every dead letter back in the queue"),
        ("drain", _spool_drain, "deliver what waits, in the foreground with progress (serve must not run)"),
    ):
        action = spool_commands.add_parser(name, help=text, description=text)
        DATA_DIR_OPTION.add_to(action)
        if name != "drain":
            action.add_argument("--json", action="store_true", help="print JSON instead of text")
        if name == "dead-letters":
            action.add_argument("--limit", type=int, default=100, help="most letters to show (default: 100)")
        if name == "drain":
            for option in SERVE_OPTIONS:
                if option.dest in PROJECT_OPTIONS:
                    option.add_to(action)
            action.add_argument("--no-progress", action="store_true", help="no progress bar")
        action.set_defaults(run=run, parser=action)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.run(args, args.parser))


def _serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .receiver.serve import ServeOptions, run  # grpc is imported only when serving

    values = {option.dest: option.value(args, parser) for option in SERVE_OPTIONS}
    redact = args.redact
    if redact is None and env_str(config.OTEL_LABEL_STUDIO_REDACT):
        try:
            redact = config.parse_patterns(env_str(config.OTEL_LABEL_STUDIO_REDACT) or "")
        except ValueError as exc:
            parser.error(f"{config.OTEL_LABEL_STUDIO_REDACT}: {exc}")
    try:
        Redactor(redact or ())
    except ValueError as exc:
        parser.error(f"--redact: {exc}")
    settings, _ = _project_settings(args, parser, redact=tuple(redact or ()))
    api_key = settings.api_key
    logs.configure(values["log_level"], values["log_format"], secrets=(api_key, values["auth_token"]))
    options = ServeOptions(
        settings=settings,
        data_dir=values["data_dir"],
        host=values["host"],
        http_port=values["http_port"],
        grpc_port=values["grpc_port"],
        auth_token=values["auth_token"],
        max_body_bytes=values["max_body_bytes"],
        drain_seconds=values["drain_seconds"],
        spool_max_rows=values["spool_max_rows"],
        spool_max_bytes=values["spool_max_bytes"],
        feedback_endpoint=values["feedback_endpoint"],
    )
    try:
        return run(options)
    except ValueError as exc:
        parser.error(str(exc))
    return 2  # not reached: parser.error exits


DOCTOR_OPTIONS = (
    "host",
    "http_port",
    "grpc_port",
    "url",
    "project_id",
    "project_name",
    "mode",
    "project_config",
    "timeout",
)


def _doctor(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .doctor import FAIL, diagnose

    values = {
        option.dest: option.value(args, parser) for option in SERVE_OPTIONS if option.dest in DOCTOR_OPTIONS
    }
    project_config = None
    if values["project_config"] is not None:
        try:
            project_config = config.read_config_file(values["project_config"])
        except ValueError as exc:
            parser.error(f"--project-config: {exc}")
    settings = config.Settings(
        url=values["url"].rstrip("/"),
        api_key=env_str(config.LABEL_STUDIO_API_KEY),
        project_id=values["project_id"],
        project_name=values["project_name"],
        project_config=project_config,
        mode=values["mode"],
        timeout=values["timeout"] or config.DEFAULT_TIMEOUT_SECONDS,
    )
    ports = () if args.no_ports else (values["http_port"], values["grpc_port"])
    findings = diagnose(settings, host=values["host"], ports=ports, timeout=settings.timeout)
    for finding in findings:
        print(finding.line())
    failed = sum(finding.status == FAIL for finding in findings)
    print(f"{failed} problem{'s' if failed != 1 else ''} to fix" if failed else "all good")
    return 1 if failed else 0


PROJECT_OPTIONS = (
    "url",
    "project_id",
    "project_name",
    "mode",
    "project_config",
    "batch_size",
    "timeout",
    "include_errors",
    "redact_builtin",
)


def _project_settings(
    args: argparse.Namespace, parser: argparse.ArgumentParser, *, redact: tuple[str, ...] = ()
) -> tuple[config.Settings, Layout]:
    """Label Studio, the project and the task layout from the options; exits 2 with what to fix."""
    values = {
        option.dest: option.value(args, parser) for option in SERVE_OPTIONS if option.dest in PROJECT_OPTIONS
    }
    api_key = env_str(config.LABEL_STUDIO_API_KEY)
    if not api_key:
        parser.error(
            f"{config.LABEL_STUDIO_API_KEY} is not set: copy a token from Label Studio > Account & Settings "
            f"and export {config.LABEL_STUDIO_API_KEY}=..."
        )
    project_config = None
    if values["project_config"] is not None:
        try:
            project_config = config.read_config_file(values["project_config"])
        except ValueError as exc:
            parser.error(f"--project-config: {exc}")
    try:
        settings = config.resolve_settings(
            url=values["url"],
            api_key=api_key,
            project_id=values["project_id"],
            project_name=values["project_name"],
            project_config=project_config,
            mode=values["mode"],
            batch_size=values["batch_size"],
            timeout=values["timeout"] or None,
            include_errors=values["include_errors"],
            redact=redact,
            redact_builtin=values["redact_builtin"],
        )
    except ValueError as exc:
        parser.error(str(exc))
    try:
        layout = layout_for(settings.mode, settings.project_config)
    except ValueError as exc:
        parser.error(f"project config: {exc}")
    if not settings.url.startswith(("http://", "https://")):
        parser.error(
            f"--url / {config.LABEL_STUDIO_URL}: {settings.url!r} must start with http:// or https://"
        )
    return settings, layout


def _replay(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .replay import read_requests

    requests: list[ExportTraceServiceRequest] = []
    for name in args.files:
        try:
            with open(name, "rb") as handle:
                requests.extend(read_requests(name, handle.read()))
        except OSError as exc:
            parser.error(f"cannot read {name}: {exc.strerror or exc}")
        except ValueError as exc:
            parser.error(str(exc))
    settings, layout = _project_settings(args, parser)
    logs.configure("WARNING", "text", secrets=(settings.api_key,))
    return backfill(settings, layout, requests, data_dir=args.replay_data_dir, progress=not args.no_progress)


def backfill(
    settings: config.Settings,
    layout: Layout,
    requests: list[ExportTraceServiceRequest],
    *,
    data_dir: str | None,
    progress: bool,
) -> int:
    """Map the requests and deliver them, showing progress; 0 when every record became a task."""
    from .bridge import build_bridge
    from .memory_queue import MemoryQueue
    from .spanview import from_otlp

    queue: RecordQueue = Spool.in_directory(data_dir) if data_dir else MemoryQueue(max_records=10**9)
    bridge = build_bridge(settings, layout, queue)
    spans = records = 0
    for request in requests:
        mapped = bridge.mapper.map(from_otlp(request))
        spans += mapped.spans
        records += queue.add(mapped.records).added
    left = deliver_in_foreground(bridge, queue, records, "replay", progress)
    stats = bridge.worker.stats
    print(
        f"{spans} spans read, {records} new LLM records: {stats.tasks_created} tasks created, "
        f"{stats.dead_lettered} dead letters" + (f", {left} not delivered" if left else "")
    )
    return 0 if not left and not stats.dead_lettered else 1


STALL_SECONDS = 60.0  # foreground delivery gives up after this long without progress


def deliver_in_foreground(bridge: Bridge, queue: RecordQueue, total: int, desc: str, progress: bool) -> int:
    """Run the delivery worker with a progress bar until the queue is empty, the key is refused, or
    nothing moved for STALL_SECONDS; how many records were left."""
    from tqdm import tqdm

    stats = bridge.worker.stats
    bar = tqdm(total=total, unit="task", disable=not progress, desc=desc)
    bridge.worker.start()
    done, moved_at = 0, time.monotonic()
    while queue.depth and not bridge.worker.key_refused and time.monotonic() - moved_at < STALL_SECONDS:
        time.sleep(0.2)
        finished = stats.tasks_created + stats.dead_lettered + stats.already_present
        if finished != done:
            bar.update(finished - done)
            done, moved_at = finished, time.monotonic()
    bar.update(stats.tasks_created + stats.dead_lettered + stats.already_present - done)
    bar.close()
    bridge.worker.stop(0)
    left = queue.depth
    queue.close()
    bridge.client.close()
    if bridge.worker.key_refused:
        print("Label Studio refused the API key: run `otel-label-studio doctor` to see why")
    elif left:
        print(f"Delivery made no progress for {STALL_SECONDS:.0f}s ({bridge.worker.paused_reason}): stopped")
    return left


def _spool_drain(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .bridge import build_bridge

    spool = _open_spool(args, parser)
    settings, layout = _project_settings(args, parser)
    logs.configure("WARNING", "text", secrets=(settings.api_key,))
    bridge = build_bridge(settings, layout, spool)
    total = spool.stats().depth
    left = deliver_in_foreground(bridge, spool, total, "drain", not args.no_progress)
    stats = bridge.worker.stats
    print(
        f"{total} records waited: {stats.tasks_created} tasks created, {stats.already_present} already in "
        f"Label Studio, {stats.dead_lettered} dead letters" + (f", {left} still waiting" if left else "")
    )
    return 0 if not left else 1


def _export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tqdm import tqdm

    from .datasets import Binding, Filters, dataset_lines
    from .labelstudio import LabelStudioClient, LabelStudioError

    api_key = env_str(config.LABEL_STUDIO_API_KEY)
    if not api_key:
        parser.error(f"{config.LABEL_STUDIO_API_KEY} is not set")
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            parser.error(
                f"--since: {args.since!r} is not an ISO 8601 date (e.g. 2026-11-01 or 2026-11-01T12:00:00Z)"
            )
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
    url = (args.url or env_str(config.LABEL_STUDIO_URL) or config.DEFAULT_URL).rstrip("/")
    logs.configure("WARNING", "text", secrets=(api_key,))
    client = LabelStudioClient(url, api_key, config.DEFAULT_TIMEOUT_SECONDS * 3)
    try:
        project = client.get_project(args.project_id)
        binding = Binding.from_config(project.label_config)
        total = client.task_count(args.project_id)
        out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
        written = 0
        try:
            bar = tqdm(total=total, unit="task", disable=args.no_progress, desc="export", file=sys.stderr)
            tasks = _counted(client.iter_tasks(args.project_id), bar)
            filters = Filters(min_rating=args.min_rating, since=since, only_edited=args.only_edited)
            for line in dataset_lines(tasks, binding, args.format, filters):
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                written += 1
            bar.close()
        finally:
            if out is not sys.stdout:
                out.close()
    except LabelStudioError as error:
        print(f"Label Studio at {url}: {error.detail}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"project {args.project_id} cannot be exported: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(f"{written} {args.format} lines from {total} tasks of {project.title!r}", file=sys.stderr)
    return 0


def _counted(tasks: Iterable[dict[str, Any]], bar: Any) -> Iterator[dict[str, Any]]:
    for task in tasks:
        bar.update(1)
        yield task


def _webhook(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .labelstudio import LabelStudioClient, LabelStudioError

    api_key = env_str(config.LABEL_STUDIO_API_KEY)
    if not api_key:
        parser.error(f"{config.LABEL_STUDIO_API_KEY} is not set")
    try:
        target = _url(args.target).rstrip("/") + "/webhooks/label-studio"
    except ValueError as exc:
        parser.error(f"--target: {exc}")
    url = (args.url or env_str(config.LABEL_STUDIO_URL) or config.DEFAULT_URL).rstrip("/")
    token = env_str(config.OTEL_LABEL_STUDIO_AUTH_TOKEN)
    client = LabelStudioClient(url, api_key, config.DEFAULT_TIMEOUT_SECONDS)
    try:
        webhook_id = client.register_webhook(args.project_id, target, token)
    except LabelStudioError as error:
        print(f"Label Studio at {url}: {error.detail}", file=sys.stderr)
        return 1
    finally:
        client.close()
    sent = " with the bearer token from " + config.OTEL_LABEL_STUDIO_AUTH_TOKEN if token else ""
    print(f"webhook {webhook_id}: annotations of project {args.project_id} go to {target}{sent}")
    return 0


def _open_spool(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Spool:
    data_dir = DATA_DIR_OPTION.value(args, parser)
    path = os.path.join(data_dir, SPOOL_FILE)
    if not os.path.exists(path):
        parser.error(f"no spool at {path}: pass the --data-dir that serve uses")
    return Spool(path)


def _feedback_waiting(data_dir: str) -> int:
    """Evaluation events serve keeps for its feedback endpoint (0 when it takes no webhooks)."""
    path = os.path.join(data_dir, OUTBOX_FILE)
    if not os.path.exists(path):
        return 0
    outbox = FeedbackOutbox(path)
    try:
        return outbox.waiting()
    finally:
        outbox.close()


def _spool_stats(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    spool = _open_spool(args, parser)
    stats = spool.stats()
    spool.close()
    feedback = _feedback_waiting(os.path.dirname(spool.path))
    if args.json:
        print(
            json.dumps({"path": spool.path, **dataclasses.asdict(stats), "feedback_events_waiting": feedback})
        )
        return 0
    age = "-" if stats.oldest_age_seconds is None else f"{stats.oldest_age_seconds:.1f}s"
    print(f"spool:            {spool.path}")
    print(f"waiting:          {stats.depth} records (oldest {age}; {stats.in_flight} in flight)")
    print(f"dead letters:     {stats.dead_letters}")
    print(f"delivered (kept): {stats.delivered_remembered} span ids remembered against duplicates")
    print(f"size:             {stats.size_bytes} bytes")
    print(f"feedback:         {feedback} evaluation events waiting for the feedback endpoint")
    return 0


def _spool_dead_letters(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    spool = _open_spool(args, parser)
    letters = spool.dead_letters(args.limit)
    spool.close()
    if args.json:
        for letter in letters:
            print(
                json.dumps(
                    {
                        "trace_id": letter.trace_id,
                        "span_id": letter.span_id,
                        "failed_at": letter.failed_at,
                        "reason": letter.reason,
                        "project": letter.record.project,
                        "model": letter.record.model,
                    }
                )
            )
        return 0
    if not letters:
        print("no dead letters")
        return 0
    for letter in letters:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(letter.failed_at))
        print(f"{when}  trace {letter.trace_id} span {letter.span_id}\n    {letter.reason}")
    return 0


def _spool_retry(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    spool = _open_spool(args, parser)
    moved = spool.retry_dead_letters()
    spool.close()
    print(json.dumps({"requeued": moved}) if args.json else f"{moved} dead letters put back in the queue")
    return 0


if __name__ == "__main__":
    sys.exit(main())
