"""``otel-label-studio``: the command line, one module per command.

``serve`` runs the sidecar receiver; ``doctor`` checks a setup; ``replay`` backfills saved spans;
``export`` writes training data; ``webhook`` registers the feedback webhook; ``spool`` looks into
(and re-queues from, and drains) serve's spool. Every ``serve`` option can also come from the
environment; an option given on the command line wins. A bad value, wherever it came from, stops
the command at once with what to fix (exit status 2), before anything listens.
"""

from __future__ import annotations

import argparse
from importlib import metadata
from typing import Sequence

from . import doctor, errors, export, replay, report, rules, serve, spool, webhook


def build_parser() -> argparse.ArgumentParser:
    parser = errors.Parser(
        prog="otel-label-studio",
        description="Turn OpenTelemetry LLM and chat spans into Label Studio tasks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for command in (serve, doctor, replay, export, webhook, spool, rules, report):
        command.add_parser(commands)
    return parser


def _version() -> str:
    try:
        return metadata.version("otel-label-studio")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the command's own parser, which knows its options
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return errors.run(args)
