"""The options commands share, and how their values are read: the command line first, then the
environment, then the default. A bad value stops the command with what to fix (exit status 2)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Collection, TypeAlias

from .. import config
from ..config import env_str
from ..layouts import Layout, layout_for
from ..receiver.limits import (
    DEFAULT_MAX_CONCURRENT_DECODES,
    DEFAULT_MAX_SPANS_PER_REQUEST,
    DEFAULT_READ_TIMEOUT_SECONDS,
    DEFAULT_RECEIVE_BUDGET_BYTES,
)
from ..receiver.otlp import DEFAULT_MAX_BODY_BYTES
from ..spool import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS

#: What ``add_subparsers`` returns: each command module adds its parser to it.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

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


def format_size(value: int) -> str:
    """Bytes as ``parse_size`` reads them back, in the largest binary unit that divides them."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value % factor == 0:
            return f"{value // factor}{unit}"
    return str(value)


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


def parse_positive_seconds(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError(f"{raw!r} must be a number of seconds above 0")
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
        if self.parse is parse_size and isinstance(shown, int):
            shown = format_size(shown)  # as the README and a user write it: 64MiB, not 67108864
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


def parse_url(raw: str) -> str:
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
        ("--reviewers-per-task",),
        "reviewers_per_task",
        config.OTEL_LABEL_STUDIO_REVIEWERS_PER_TASK,
        parse_positive_int,
        1,
        "new projects ask each task for N annotations from different people (maximum_annotations)",
        "N",
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
        ("--import-timeout",),
        "import_timeout",
        config.OTEL_LABEL_STUDIO_IMPORT_TIMEOUT,
        parse_seconds,
        config.DEFAULT_IMPORT_TIMEOUT_SECONDS,
        "seconds to wait for Label Studio's answer to an import; records of an import with no "
        "answer are imported again only this long after it was sent",
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
        ("--max-concurrent-decodes",),
        "max_concurrent_decodes",
        config.OTEL_LABEL_STUDIO_MAX_CONCURRENT_DECODES,
        parse_positive_int,
        DEFAULT_MAX_CONCURRENT_DECODES,
        "requests (HTTP and gRPC together) decoded and spooled at once, once their body is in; others "
        "wait up to 2 s, then get 503 / UNAVAILABLE (retry later). Memory grows with N x --max-body-bytes",
        "N",
    ),
    Option(
        ("--max-receive-bytes",),
        "max_receive_bytes",
        config.OTEL_LABEL_STUDIO_MAX_RECEIVE_BYTES,
        parse_size,
        DEFAULT_RECEIVE_BUDGET_BYTES,
        "bytes of request bodies being received at once (e.g. 256MiB; at least --max-body-bytes): HTTP "
        "counts what arrived, gRPC takes one slot per --max-body-bytes; past it 503 / UNAVAILABLE",
        "SIZE",
    ),
    Option(
        ("--max-spans-per-request",),
        "max_spans_per_request",
        config.OTEL_LABEL_STUDIO_MAX_SPANS_PER_REQUEST,
        parse_positive_int,
        DEFAULT_MAX_SPANS_PER_REQUEST,
        "most spans one export request may hold; more get 413 / RESOURCE_EXHAUSTED",
        "N",
    ),
    Option(
        ("--http-read-timeout",),
        "http_read_timeout",
        config.OTEL_LABEL_STUDIO_HTTP_READ_TIMEOUT,
        parse_positive_seconds,
        DEFAULT_READ_TIMEOUT_SECONDS,
        "seconds an OTLP/HTTP request body may take to arrive; a slower one gets 408",
        "SECONDS",
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
        parse_url,
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


#: The spool commands read an existing spool: their --data-dir is not created when missing.
DATA_DIR_OPTION = dataclasses.replace(
    SERVE_OPTIONS[[o.dest for o in SERVE_OPTIONS].index("data_dir")],
    help="directory of serve's durable spool (it must exist: serve creates it)",
)

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


PROJECT_OPTIONS = (
    "url",
    "project_id",
    "project_name",
    "mode",
    "project_config",
    "reviewers_per_task",
    "batch_size",
    "timeout",
    "import_timeout",
    "include_errors",
    "redact_builtin",
)


def add_options(parser: argparse.ArgumentParser, names: Collection[str]) -> None:
    """Add the SERVE_OPTIONS named in ``names`` to a command's parser."""
    for option in SERVE_OPTIONS:
        if option.dest in names:
            option.add_to(parser)


def option_values(
    args: argparse.Namespace, parser: argparse.ArgumentParser, names: Collection[str]
) -> dict[str, Any]:
    return {option.dest: option.value(args, parser) for option in SERVE_OPTIONS if option.dest in names}


def read_project_config(path: str | None, parser: argparse.ArgumentParser) -> str | None:
    """The label config file's text, or None when no file was named; exits 2 when unreadable."""
    if path is None:
        return None
    try:
        return config.read_config_file(path)
    except ValueError as exc:
        parser.error(f"--project-config: {exc}")
    return None  # not reached: parser.error exits


def project_settings(
    args: argparse.Namespace, parser: argparse.ArgumentParser, *, redact: tuple[str, ...] = ()
) -> tuple[config.Settings, Layout]:
    """Label Studio, the project and the task layout from the options; exits 2 with what to fix."""
    values = option_values(args, parser, PROJECT_OPTIONS)
    api_key = env_str(config.LABEL_STUDIO_API_KEY)
    if not api_key:
        parser.error(
            f"{config.LABEL_STUDIO_API_KEY} is not set: copy a token from Label Studio > Account & Settings "
            f"and export {config.LABEL_STUDIO_API_KEY}=..."
        )
    problem = config.base_url_problem(values["url"])
    if problem is not None:
        parser.error(f"--url / {config.LABEL_STUDIO_URL}: {problem.message}")
    project_config = read_project_config(values["project_config"], parser)
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
            import_timeout=values["import_timeout"] or None,
            include_errors=values["include_errors"],
            redact=redact,
            redact_builtin=values["redact_builtin"],
            reviewers_per_task=values["reviewers_per_task"],
        )
    except ValueError as exc:
        parser.error(str(exc))
    try:
        layout = layout_for(settings.mode, settings.project_config)
    except ValueError as exc:
        parser.error(f"project config: {exc}")
    return settings, layout
