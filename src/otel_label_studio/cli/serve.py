"""``otel-label-studio serve``: the sidecar receiver."""

from __future__ import annotations

import argparse

from .. import config, logs
from ..store.durable import DamagedFile
from ..store.shared import url_password
from .errors import CommandError
from .options import SERVE_SETTINGS, Commands, add_options, project_layout, read_options

SERVE_EPILOG = f"""\
The Label Studio key is read from {config.spec("api_key").env} only (never from the command line):
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
    add_options(serve, SERVE_SETTINGS)
    serve.set_defaults(run=run, parser=serve)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..receiver.serve import ServeOptions, run  # grpc is imported only when serving

    settings = read_options(args, parser, SERVE_SETTINGS)
    project_layout(settings, parser)
    secrets = (
        settings.api_key,
        settings.auth_token,
        settings.webhook_secret,
        url_password(settings.state_url),
    )
    logs.configure(settings.log_level, settings.log_format, secrets=secrets)
    options = ServeOptions.from_settings(settings)
    try:
        return run(options)
    except (DamagedFile, ValueError) as exc:
        # Found at start (a port in use, an unusable config or data directory, a damaged spool):
        # what to fix, without the usage text, which is about the command line.
        raise CommandError(str(exc)) from None
