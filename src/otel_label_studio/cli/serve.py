"""``otel-label-studio serve``: the sidecar receiver."""

from __future__ import annotations

import argparse

from .. import config, logs
from ..config import env_str
from ..durable import DamagedFile
from ..redact import Redactor
from .options import SERVE_OPTIONS, Commands, project_settings

SERVE_EPILOG = f"""\
The Label Studio key is read from {config.LABEL_STUDIO_API_KEY} only (never from the command line):
a Personal Access Token or a legacy token from Label Studio > Account & Settings.

A request may route its spans to another project: the resource attribute label_studio.project,
or the header (gRPC metadata) x-label-studio-project. Spans whose resource names no project go
to --project-id / --project-name.

Answers 200 only after the spans are in the spool; delivery to Label Studio follows, retried
until it lands. SIGTERM stops listening, drains for --drain-seconds, and exits.
"""


def add_parser(commands: Commands) -> None:
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
    serve.set_defaults(run=run, parser=serve)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..receiver.serve import ServeOptions, run  # grpc is imported only when serving

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
    settings, _ = project_settings(args, parser, redact=tuple(redact or ()))
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
        max_concurrent_decodes=values["max_concurrent_decodes"],
        max_spans_per_request=values["max_spans_per_request"],
        http_read_timeout=values["http_read_timeout"],
        max_receive_bytes=values["max_receive_bytes"],
    )
    try:
        return run(options)
    except (DamagedFile, ValueError) as exc:
        # Found at start (a port in use, an unusable config or data directory, a damaged spool):
        # what to fix, without the usage text, which is about the command line.
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    return 2  # not reached: parser.exit exits
