"""``otel-label-studio doctor``: check a setup, one finding a line, each with a fix."""

from __future__ import annotations

import argparse

from .. import config
from ..config import env_str
from .options import DOCTOR_OPTIONS, Commands, add_options, option_values, read_project_config


def add_parser(commands: Commands) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check the URL, the key, the project, its config and the receiver's ports",
        description="Check this setup the way serve and the exporter would use it; one line per finding, "
        "each with a fix. Creates and changes nothing. Exit status 1 when something must be fixed.",
    )
    add_options(doctor, DOCTOR_OPTIONS)
    doctor.add_argument("--no-ports", action="store_true", help="skip the receiver port checks")
    doctor.set_defaults(run=run, parser=doctor)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..doctor import FAIL, diagnose

    values = option_values(args, parser, DOCTOR_OPTIONS)
    project_config = read_project_config(values["project_config"], parser)
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
