"""``otel-label-studio doctor``: check a setup, one finding a line, each with a fix."""

from __future__ import annotations

import argparse
import os

from .. import config
from .options import DOCTOR_SETTINGS, Commands, add_options, read_options


def add_parser(commands: Commands) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check the URL, the key, the project, its config, LangChain's instrumentation and the "
        "receiver's ports",
        description="Check this setup the way serve and the exporter would use it; one line per finding, "
        "each with a fix. Takes serve's options and variables, so a serve command line works with doctor "
        "in its place. Creates and changes nothing. Exit status 1 when something must be fixed, 2 for a "
        "malformed option (as serve).",
    )
    add_options(doctor, DOCTOR_SETTINGS)
    doctor.add_argument("--no-ports", action="store_true", help="skip the receiver port checks")
    doctor.set_defaults(run=run, parser=doctor)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..doctor import FAIL, diagnose  # start-up time: loaded only when this command runs

    # The URL and the key are findings of their own: doctor checks them, rather than stopping.
    # So is the rules file: diagnose checks it against the mode as serve's start does.
    names = tuple(name for name in DOCTOR_SETTINGS if name != "review_rules")
    settings = read_options(args, parser, names, require_key=False, unchecked=("url",))
    settings = settings.model_copy(update={"url": settings.url.rstrip("/")})
    ports = () if args.no_ports else (settings.http_port, settings.grpc_port)
    rules = args.review_rules or config.env_str(config.spec("review_rules").env, os.environ)
    findings = diagnose(settings, host=settings.host, ports=ports, timeout=settings.timeout, rules=rules)
    for finding in findings:
        print(finding.line())
    failed = sum(finding.status == FAIL for finding in findings)
    print(f"{failed} problem{'s' if failed != 1 else ''} to fix" if failed else "all good")
    return 1 if failed else 0
