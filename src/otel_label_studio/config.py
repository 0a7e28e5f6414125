"""The settings model: every setting the exporter, ``serve`` and the commands read, declared once.

Each field of ``Settings`` carries its type, its default and a ``Spec``: the environment variable,
the command-line flag (derived into argparse by ``cli.options``), how a text value is parsed and
checked, and one line of documentation (the ``--help`` text and the settings tables of
``docs/settings.md``, which ``readme_tables`` renders and a test compares).

Precedence: an argument (or flag) wins over the environment, the environment over the default.
An empty variable counts as unset. One rule for a malformed value, wherever it comes from:

- ``serve`` and the commands refuse it at start (exit status 2), naming the flag or variable and
  what to fix (``read_settings(..., lenient=False)``);
- the in-process exporter logs a malformed *variable* once, as a WARNING, and uses the default
  (a page URL copied from the browser: its base URL), so a bad environment never breaks the app;
  a malformed *argument* raises ValueError, as any bad argument to a constructor does. Two variables
  are refused by the exporter too, because their default would do what the user did not ask for:
  an unreadable label config file (a project with another config), a malformed redact pattern
  (prompts unmasked) and a bad review-rules file (every span a task, or none). The exporter also
  refuses ``OTEL_LABEL_STUDIO_REVEAL_JUDGES=after_answer``: it receives no annotation webhook, so
  the judges of its tasks would never be shown (serve does that).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Collection, Iterator, Literal, Mapping, NamedTuple, Sequence
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from .judges.judge import REVEALS
from .reading.redact import Redactor
from .store import memory_queue, spool
from .store.shared import parse_state_url
from .userfiles import LABEL_CONFIG_LIMIT, read_text

_logger = logging.getLogger(__name__)

MODES = ("prompt", "chat", "agent", "pairwise")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


# --- parsing text values: each raises ValueError saying what is wrong ------------------------------


class Fixable(ValueError):
    """A malformed value with an obvious fix, which a lenient reader may use instead of the default."""

    def __init__(self, message: str, fixed: Any):
        super().__init__(message)
        self.fixed = fixed


def parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{raw!r} is not true or false")


def parse_positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(f"{raw!r} must be a positive whole number")
    return value


def parse_port(raw: str) -> int:
    port = int(raw)
    if not 0 <= port <= 65535:
        raise ValueError(f"{raw!r} is not a port number (0-65535)")
    return port


def _number(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        return math.nan  # refused below with what to write, not float()'s "could not convert"


def parse_seconds(raw: str) -> float:
    value = _number(raw)
    if not value >= 0:
        raise ValueError(f"{raw!r} must be a number of seconds, 0 or more")
    return value


def parse_positive_seconds(raw: str) -> float:
    value = _number(raw)
    if not value > 0:
        raise ValueError(f"{raw!r} must be a number of seconds above 0")
    return value


def parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"{raw!r} is not one of {', '.join(choices)}")
        return raw

    return parse


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


def parse_http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError(f"{raw!r} must start with http:// or https://")
    return raw


# First path segments of Label Studio's own pages and API: a URL copied from the browser.
_PAGE_SEGMENTS = frozenset(
    {"projects", "tasks", "data", "user", "organization", "api", "admin", "models", "webhooks", "health"}
)


class UrlProblem(NamedTuple):
    message: str  # what is wrong, and what to use instead
    suggestion: str | None  # the base URL to use, when one can be told


def base_url_problem(url: str) -> UrlProblem | None:
    """What is wrong with ``url`` as Label Studio's base URL, and the URL to use; None if it is fine.

    A Label Studio served under a path prefix (``https://example.com/label-studio``) is fine; a
    URL that goes on into one of its pages (``.../projects/1``, copied from the browser) is not.
    """
    if "://" not in url:
        fixed = f"http://{url.lstrip('/')}"
        return UrlProblem(f"{url!r} has no scheme: add http:// ({fixed})", fixed)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return UrlProblem(f"{url!r} must start with http:// or https:// and name a host", None)
    segments = [segment for segment in parts.path.split("/") if segment]
    page = next((i for i, segment in enumerate(segments) if segment in _PAGE_SEGMENTS), len(segments))
    if page == len(segments) and not parts.query and not parts.fragment:
        return None
    base = urlunsplit((parts.scheme, parts.netloc, "".join(f"/{s}" for s in segments[:page]), "", ""))
    return UrlProblem(f"{url!r} is a page of Label Studio, not its base URL: use {base}", base)


def parse_base_url(raw: str) -> str:
    problem = base_url_problem(raw)
    if problem is None:
        return raw.rstrip("/")
    if problem.suggestion is not None and base_url_problem(problem.suggestion) is None:
        raise Fixable(problem.message, problem.suggestion.rstrip("/"))
    raise ValueError(problem.message)


def read_config_file(path: str) -> str:
    """Read a label config file, with an error that says which file and why: a regular file of at
    most ``userfiles.LABEL_CONFIG_LIMIT`` (4 MiB), read with that bound."""
    return read_text(path, what="label config file", limit=LABEL_CONFIG_LIMIT)


WEBHOOK_SECRET_MIN_LENGTH = 16


def parse_webhook_secret(raw: str) -> str:
    """A webhook secret: printable ASCII without spaces (it travels in an HTTP header), long enough
    not to be guessed. The value itself is never part of a message."""
    if not all("!" <= char <= "~" for char in raw):
        raise ValueError("the webhook secret must be printable ASCII without spaces (it is sent in a header)")
    if len(raw) < WEBHOOK_SECRET_MIN_LENGTH:
        raise ValueError(
            f"the webhook secret is {len(raw)} characters; use {WEBHOOK_SECRET_MIN_LENGTH} or more "
            "(e.g. `openssl rand -hex 32`)"
        )
    return raw


def webhook_secret_problem(
    feedback_endpoint: str | None,
    webhook_secret: str | None,
    auth_token: str | None,
    *,
    reveal_judges: str = "now",
) -> str | None:
    """Why serve cannot take webhooks with these settings (it refuses to start), or None. Webhooks
    are taken (for the feedback endpoint, or to reveal judges after the answer) only with a secret of
    their own: with none, anyone who reaches serve could post reviewers' scores, and the OTLP token
    will not do, since every sender holds it."""
    taker = (
        "--feedback-endpoint"
        if feedback_endpoint
        else "--reveal-judges after_answer"
        if reveal_judges == "after_answer"
        else None
    )
    if taker and not webhook_secret:
        return (
            f"{taker} takes Label Studio's annotation webhooks, which need a secret of their "
            "own: set OTEL_LABEL_STUDIO_WEBHOOK_SECRET (or --webhook-secret) to a random string of 16 or "
            "more characters (e.g. `openssl rand -hex 32`) and register the webhook with it "
            "(otel-label-studio webhook)"
        )
    if webhook_secret and webhook_secret == auth_token:
        return (
            "the webhook secret must differ from --auth-token: every OTLP sender holds the token, "
            "so any of them could post reviewers' scores"
        )
    return None


def parse_patterns(raw: str) -> tuple[str, ...]:
    """One pattern, or a JSON list of them."""
    if raw.lstrip().startswith("["):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"not a JSON list of patterns: {exc}") from None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError("must be a JSON list of strings")
        return tuple(value)
    return (raw,)


def _compiled(patterns: Sequence[str]) -> tuple[str, ...]:
    Redactor(patterns)
    return tuple(patterns)


def _redact_from_text(raw: str | Sequence[str]) -> tuple[str, ...]:
    return _compiled(parse_patterns(raw) if isinstance(raw, str) else tuple(raw))


def _redact_argument(value: Any) -> tuple[str, ...]:
    return _compiled((value,) if isinstance(value, str) else tuple(value))


def _same(value: Any) -> Any:
    return value


def read_rules_file(path: str) -> str:
    """A review-rules file that loads: its path; RulesError (a ValueError) with its file, line
    and what to fix otherwise."""
    from .rules import load_file  # the rule language is loaded only when rules are given

    load_file(path)
    return path


def default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "otel-label-studio")


# --- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """How one setting is read and documented (the field's type and default are the model's)."""

    env: str
    doc: str  # one line: the --help text and the settings tables' "meaning"
    parse: Callable[[Any], Any]  # text from the environment or the command line -> value
    flag: str | None = None  # the command-line option; None: not on the command line
    metavar: str | None = None
    argument: bool = False  # LabelStudioSpanExporter takes it as a keyword argument
    check: Callable[[Any], Any] | None = None  # a Python argument -> value (default: parse(str(value)))
    exporter: bool = True  # the in-process exporter reads it
    serve: bool = True  # serve reads it
    strict: bool = False  # the exporter refuses a malformed variable too (see the module docstring)
    repeatable: bool = False  # the flag may be given more than once
    secret: bool = False  # never logged, never shown
    shown: str | None = None  # the default as the docs show it (markdown), when not the value itself
    env_note: str = ""  # what the variable holds, when it is not the value itself


def _spec(**kwargs: Any) -> Any:
    return Spec(**kwargs)


class Settings(BaseModel):
    """What the exporter, ``serve`` and the commands need to know, resolved once at start."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: Annotated[
        str,
        _spec(
            env="LABEL_STUDIO_URL",
            flag="--url",
            metavar="URL",
            parse=parse_base_url,
            argument=True,
            doc="Label Studio base URL",
        ),
    ] = "http://localhost:8080"
    api_key: Annotated[
        str | None,
        _spec(
            env="LABEL_STUDIO_API_KEY",
            parse=_same,
            check=_same,
            argument=True,
            secret=True,
            doc="Personal Access Token (Label Studio 1.17+) or legacy token, from Account & Settings",
        ),
    ] = Field(default=None, repr=False)
    project_id: Annotated[
        int | None,
        _spec(
            env="LABEL_STUDIO_PROJECT_ID",
            flag="--project-id",
            metavar="ID",
            parse=parse_positive_int,
            argument=True,
            doc="existing project to fill; wins over the project name",
        ),
    ] = None
    project_name: Annotated[
        str,
        _spec(
            env="OTEL_LABEL_STUDIO_PROJECT_NAME",
            flag="--project-name",
            metavar="TITLE",
            parse=_same,
            argument=True,
            doc="project title, strftime'd at delivery with the UTC date; found by exact title or created",
        ),
    ] = "LangChain-%Y-%m-%d"
    project_config: Annotated[
        str | None,
        _spec(
            env="OTEL_LABEL_STUDIO_PROJECT_CONFIG",
            flag="--project-config",
            metavar="FILE",
            parse=read_config_file,
            check=_same,
            argument=True,
            strict=True,
            shown="layout default",
            env_note="(path to an XML file)",
            doc="label config for new projects, instead of the layout's (the argument is the XML itself)",
        ),
    ] = Field(default=None, repr=False)
    mode: Annotated[
        Literal["prompt", "chat", "agent", "pairwise"],
        _spec(
            env="OTEL_LABEL_STUDIO_MODE",
            flag="--mode",
            metavar="MODE",
            parse=parse_choice(*MODES),
            argument=True,
            doc="what a task is and the layout of new projects: prompt or chat (one LLM call), agent "
            "(one LangChain run, its steps in order), pairwise (two answers to one prompt, A/B)",
        ),
    ] = "prompt"
    run_grace: Annotated[
        float,
        _spec(
            env="OTEL_LABEL_STUDIO_RUN_GRACE",
            flag="--run-grace",
            metavar="SECONDS",
            parse=parse_positive_seconds,
            argument=True,
            doc="mode agent: a run becomes a task once its top span came, every span's parent came, and no "
            "span of its trace arrived for this long",
        ),
    ] = 5.0
    run_idle_timeout: Annotated[
        float,
        _spec(
            env="OTEL_LABEL_STUDIO_RUN_IDLE_TIMEOUT",
            flag="--run-idle-timeout",
            metavar="SECONDS",
            parse=parse_positive_seconds,
            argument=True,
            doc="mode agent: a run whose top span (or a span's parent) never came becomes a task after this "
            "long without a new span; a top coming later completes that task in place",
        ),
    ] = 300.0
    max_open_runs: Annotated[
        int,
        _spec(
            env="OTEL_LABEL_STUDIO_MAX_OPEN_RUNS",
            parse=parse_positive_int,
            argument=True,
            serve=False,
            doc="mode agent or pairwise, without spool_path: most traces whose spans wait in memory; "
            "spans of more are dropped and counted",
        ),
    ] = 1_000
    pair_wait: Annotated[
        float,
        _spec(
            env="OTEL_LABEL_STUDIO_PAIR_WAIT",
            flag="--pair-wait",
            metavar="SECONDS",
            parse=parse_positive_seconds,
            argument=True,
            doc="mode pairwise: a trace's LLM spans are paired this long after its last span arrived; "
            "a span with no partner by then is counted, not imported",
        ),
    ] = 60.0
    judge_wait: Annotated[
        float,
        _spec(
            env="OTEL_LABEL_STUDIO_JUDGE_WAIT",
            flag="--judge-wait",
            metavar="SECONDS",
            parse=parse_positive_seconds,
            argument=True,
            doc="how long a judge result that arrived on its own (OTLP logs, the logs exporter) waits for "
            "its span's task; then it is dropped and counted",
        ),
    ] = 3600.0
    reveal_judges: Annotated[
        Literal["now", "after_answer"],
        _spec(
            env="OTEL_LABEL_STUDIO_REVEAL_JUDGES",
            flag="--reveal-judges",
            metavar="WHEN",
            parse=parse_choice(*REVEALS),
            strict=True,
            doc="when a reviewer sees a task's judge results: now, or after_answer (serve only, with "
            "--webhook-secret: kept in the task's meta until serve's annotation webhook, confirmed in Label "
            "Studio, says the task has its answers, so the judge does not anchor them; register the webhook "
            "with `otel-label-studio webhook`)",
        ),
    ] = "now"
    batch_size: Annotated[
        int,
        _spec(
            env="OTEL_LABEL_STUDIO_BATCH_SIZE",
            flag="--batch-size",
            metavar="N",
            parse=parse_positive_int,
            argument=True,
            doc="most tasks per import request",
        ),
    ] = 500
    timeout: Annotated[
        float,
        _spec(
            env="OTEL_LABEL_STUDIO_TIMEOUT",
            flag="--timeout",
            metavar="SECONDS",
            parse=parse_positive_seconds,
            argument=True,
            doc="seconds one request to Label Studio may take; how long the exporter's shutdown() "
            "keeps delivering",
        ),
    ] = 10.0
    import_timeout: Annotated[
        float,
        _spec(
            env="OTEL_LABEL_STUDIO_IMPORT_TIMEOUT",
            flag="--import-timeout",
            metavar="SECONDS",
            parse=parse_positive_seconds,
            doc="seconds to wait for Label Studio's answer to an import; records of an import with no "
            "answer are imported again only this long after it was sent",
        ),
    ] = 600.0
    reviewers_per_task: Annotated[
        int,
        _spec(
            env="OTEL_LABEL_STUDIO_REVIEWERS_PER_TASK",
            flag="--reviewers-per-task",
            metavar="N",
            parse=parse_positive_int,
            argument=True,
            doc="new projects ask each task for N annotations from different people (maximum_annotations)",
        ),
    ] = 1
    include_errors: Annotated[
        bool,
        _spec(
            env="OTEL_LABEL_STUDIO_INCLUDE_ERRORS",
            flag="--include-errors",
            metavar="BOOL",
            parse=parse_bool,
            argument=True,
            doc="true: failed LLM calls become tasks showing the error",
        ),
    ] = False
    review_rules: Annotated[
        str | None,
        _spec(
            env="OTEL_LABEL_STUDIO_REVIEW_RULES",
            flag="--review-rules",
            metavar="PATH",
            parse=read_rules_file,
            argument=True,
            strict=True,
            shown="none (every LLM span)",
            env_note="(path to a YAML file)",
            doc="review rules: which LLM spans become tasks (sampling, limits, folding; see Choosing what "
            "reviewers see); a bad file stops serve (exit 2) and makes the exporter raise ValueError",
        ),
    ] = None
    metadata_prefix: Annotated[
        str,
        _spec(
            env="OTEL_LABEL_STUDIO_METADATA_PREFIX",
            flag="--metadata-prefix",
            metavar="PREFIX",
            parse=_same,
            argument=True,
            doc="attribute prefix of run metadata on chat spans (the instrumentation's metadata_key_prefix)",
        ),
    ] = "traceloop.association.properties"
    redact: Annotated[
        tuple[str, ...],
        _spec(
            env="OTEL_LABEL_STUDIO_REDACT",
            flag="--redact",
            metavar="PATTERN",
            parse=_redact_from_text,
            check=_redact_argument,
            argument=True,
            strict=True,
            repeatable=True,
            shown="none",
            env_note="(one pattern, or a JSON list)",
            doc="regular expressions masked as [REDACTED] in prompts, responses, metadata and errors",
        ),
    ] = ()
    redact_builtin: Annotated[
        bool,
        _spec(
            env="OTEL_LABEL_STUDIO_REDACT_BUILTIN",
            flag="--redact-builtin",
            metavar="BOOL",
            parse=parse_bool,
            argument=True,
            doc="true: also mask e-mail addresses and common API-key shapes",
        ),
    ] = False
    state_url: Annotated[
        str | None,
        _spec(
            env="OTEL_LABEL_STUDIO_STATE_URL",
            flag="--state-url",
            metavar="URL",
            parse=parse_state_url,
            argument=True,
            strict=True,
            secret=True,
            shown="none (`review-state.sqlite3` beside the spool)",
            env_note="(postgresql://user:password@host:5432/db)",
            doc="a review state shared by every serve replica and exporter feeding one Label Studio "
            "(PostgreSQL; the postgres extra): limits and folding hold across them and a title makes one "
            "project; unreachable: spans the rules would count are refused with a retry (fail closed)",
        ),
    ] = Field(default=None, repr=False)
    spool_path: Annotated[
        str | None,
        _spec(
            env="OTEL_LABEL_STUDIO_SPOOL_PATH",
            parse=_same,
            argument=True,
            serve=False,
            shown="none (memory)",
            doc="keep undelivered records in this SQLite file (or directory) across restarts; a damaged "
            "file is logged as an ERROR with the mv that moves it aside, and records wait in memory instead",
        ),
    ] = None
    max_queue_size: Annotated[
        int,
        _spec(
            env="OTEL_LABEL_STUDIO_MAX_QUEUE_SIZE",
            parse=parse_positive_int,
            argument=True,
            serve=False,
            doc="most records waiting in memory; more are dropped and counted",
        ),
    ] = memory_queue.MAX_RECORDS

    # --- the `otel-label-studio serve` process -----------------------------------------------
    host: Annotated[
        str,
        _spec(
            env="OTEL_LABEL_STUDIO_HOST",
            flag="--host",
            metavar="ADDR",
            parse=_same,
            exporter=False,
            doc="address to listen on; 0.0.0.0 to accept other machines (then set --auth-token)",
        ),
    ] = "127.0.0.1"
    http_port: Annotated[
        int,
        _spec(
            env="OTEL_LABEL_STUDIO_HTTP_PORT",
            flag="--http-port",
            metavar="PORT",
            parse=parse_port,
            exporter=False,
            doc=(
                "OTLP/HTTP port: POST /v1/traces, POST /v1/logs (judge results), "
                "GET /healthz, /readyz, /metrics"
            ),
        ),
    ] = 4318
    grpc_port: Annotated[
        int,
        _spec(
            env="OTEL_LABEL_STUDIO_GRPC_PORT",
            flag="--grpc-port",
            metavar="PORT",
            parse=parse_port,
            exporter=False,
            doc="OTLP/gRPC port (TraceService/Export, LogsService/Export)",
        ),
    ] = 4317
    data_dir: Annotated[
        str,
        _spec(
            env="OTEL_LABEL_STUDIO_DATA_DIR",
            flag="--data-dir",
            metavar="DIR",
            parse=_same,
            exporter=False,
            shown="`$XDG_DATA_HOME/otel-label-studio` (`~/.local/share/otel-label-studio`)",
            doc="directory of the durable spool and the feedback outbox (created if missing)",
        ),
    ] = Field(default_factory=default_data_dir)
    auth_token: Annotated[
        str | None,
        _spec(
            env="OTEL_LABEL_STUDIO_AUTH_TOKEN",
            flag="--auth-token",
            metavar="TOKEN",
            parse=_same,
            exporter=False,
            secret=True,
            doc="require 'Authorization: Bearer TOKEN' from senders (HTTP header or gRPC metadata); "
            "prefer the variable, command lines are visible to other users",
        ),
    ] = Field(default=None, repr=False)
    max_body_bytes: Annotated[
        int,
        _spec(
            env="OTEL_LABEL_STUDIO_MAX_BODY_BYTES",
            flag="--max-body-bytes",
            metavar="SIZE",
            parse=parse_size,
            exporter=False,
            doc="largest request, after decompression (e.g. 64MiB); bigger ones get 413",
        ),
    ] = 64 * 1024 * 1024  # the OTLP specification's recommended cap
    max_concurrent_decodes: Annotated[
        int,
        _spec(
            env="OTEL_LABEL_STUDIO_MAX_CONCURRENT_DECODES",
            flag="--max-concurrent-decodes",
            metavar="N",
            parse=parse_positive_int,
            exporter=False,
            doc="requests (HTTP and gRPC together) decoded and spooled at once, once their body is in; "
            "others wait up to 2 s, then get 503 / UNAVAILABLE. Memory grows with N x --max-body-bytes",
        ),
    ] = 2
    max_receive_bytes: Annotated[
        int,
        _spec(
            env="OTEL_LABEL_STUDIO_MAX_RECEIVE_BYTES",
            flag="--max-receive-bytes",
            metavar="SIZE",
            parse=parse_size,
            exporter=False,
            doc="bytes of request bodies being received at once (at least --max-body-bytes): HTTP counts "
            "what arrived, gRPC takes one slot per --max-body-bytes; past it 503 / UNAVAILABLE",
        ),
    ] = 256 * 1024 * 1024
    max_spans_per_request: Annotated[
        int,
        _spec(
            env="OTEL_LABEL_STUDIO_MAX_SPANS_PER_REQUEST",
            flag="--max-spans-per-request",
            metavar="N",
            parse=parse_positive_int,
            exporter=False,
            doc=(
                "most spans (log records, in a logs request) one export request may hold; "
                "more get 413 / RESOURCE_EXHAUSTED"
            ),
        ),
    ] = 100_000
    http_read_timeout: Annotated[
        float,
        _spec(
            env="OTEL_LABEL_STUDIO_HTTP_READ_TIMEOUT",
            flag="--http-read-timeout",
            metavar="SECONDS",
            parse=parse_positive_seconds,
            exporter=False,
            doc="seconds an OTLP/HTTP request body may take to arrive; a slower one gets 408",
        ),
    ] = 30.0
    drain_seconds: Annotated[
        float,
        _spec(
            env="OTEL_LABEL_STUDIO_DRAIN_SECONDS",
            flag="--drain-seconds",
            metavar="SECONDS",
            parse=parse_seconds,
            exporter=False,
            doc="on SIGTERM, how long delivery may keep draining the spool before the process exits",
        ),
    ] = 10.0
    spool_max_rows: Annotated[
        int,
        _spec(
            env="OTEL_LABEL_STUDIO_SPOOL_MAX_ROWS",
            flag="--spool-max-rows",
            metavar="N",
            parse=parse_positive_int,
            exporter=False,
            doc="records the spool holds before the receiver answers 503 (retry later)",
        ),
    ] = spool.MAX_ROWS
    spool_max_bytes: Annotated[
        int,
        _spec(
            env="OTEL_LABEL_STUDIO_SPOOL_MAX_BYTES",
            flag="--spool-max-bytes",
            metavar="SIZE",
            parse=parse_size,
            exporter=False,
            doc="spool pages in use plus its WAL before the receiver answers 503 (retry later); space "
            "freed by delivery counts again at once",
        ),
    ] = spool.MAX_BYTES
    feedback_endpoint: Annotated[
        str | None,
        _spec(
            env="OTEL_LABEL_STUDIO_FEEDBACK_ENDPOINT",
            flag="--feedback-endpoint",
            metavar="URL",
            parse=parse_http_url,
            exporter=False,
            doc="OTLP/HTTP endpoint for human scores: POST /webhooks/label-studio turns each annotation "
            "into a gen_ai.evaluation.result event on the original span; unset: webhooks are refused",
        ),
    ] = None
    figures_interval: Annotated[
        float,
        _spec(
            env="OTEL_LABEL_STUDIO_FIGURES_INTERVAL",
            flag="--figures-interval",
            metavar="SECONDS",
            parse=parse_seconds,
            exporter=False,
            doc="while serve takes annotation webhooks: after a reviewer's annotation, the project's "
            "calibration (per judge kappa, sensitivity, specificity, corrected pass rate) and arena ratings "
            "are recomputed from Label Studio for /metrics, at most once per this many seconds per "
            "project; 0: off",
        ),
    ] = 60.0
    webhook_secret: Annotated[
        str | None,
        _spec(
            env="OTEL_LABEL_STUDIO_WEBHOOK_SECRET",
            flag="--webhook-secret",
            metavar="SECRET",
            parse=parse_webhook_secret,
            exporter=False,
            secret=True,
            doc="required with --feedback-endpoint or --reveal-judges after_answer: Label Studio's webhook "
            "must send 'Authorization: Bearer SECRET' (otel-label-studio webhook registers it); 16+ "
            "characters, not the --auth-token; prefer the variable",
        ),
    ] = Field(default=None, repr=False)
    log_format: Annotated[
        Literal["json", "text"],
        _spec(
            env="OTEL_LABEL_STUDIO_LOG_FORMAT",
            flag="--log-format",
            metavar="FORMAT",
            parse=parse_choice(*LOG_FORMATS),
            exporter=False,
            doc="json (one object per line) or text",
        ),
    ] = "json"
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"],
        _spec(
            env="OTEL_LABEL_STUDIO_LOG_LEVEL",
            flag="--log-level",
            metavar="LEVEL",
            parse=parse_choice(*LOG_LEVELS),
            exporter=False,
            doc="DEBUG, INFO, WARNING or ERROR",
        ),
    ] = "INFO"


def spec(name: str) -> Spec:
    """The ``Spec`` of the setting ``name``."""
    for item in Settings.model_fields[name].metadata:
        if isinstance(item, Spec):
            return item
    raise KeyError(name)


def names() -> tuple[str, ...]:
    """Every setting, in the model's order."""
    return tuple(Settings.model_fields)


def default(name: str) -> Any:
    """The default of the setting ``name`` (the one place defaults are written is the model)."""
    return Settings.model_fields[name].get_default(call_default_factory=True)


def shown_default(name: str) -> str:
    """The default as the docs show it: ``64MiB``, not 67108864."""
    item = spec(name)
    if item.shown is not None:
        return item.shown
    value = default(name)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if item.parse is parse_size:
        return f"`{format_size(value)}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


# --- reading ---------------------------------------------------------------------------------


class Problem(NamedTuple):
    source: str  # the flag, variable or argument the value came from
    message: str  # what is wrong, what to use instead


class SettingsError(ValueError):
    """Malformed values: each names where it came from and what to fix."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.source}: {p.message}" for p in self.problems))


def env_str(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable's value, or None when it is unset or empty."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    return value or None


def read_settings(
    names: Collection[str] | None = None,
    *,
    flags: Mapping[str, str | Sequence[str] | None] | None = None,
    arguments: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    lenient: bool = False,
    unchecked: Collection[str] = (),
) -> Settings:
    """The settings ``names`` (default: all) from command-line text, Python arguments, the environment.

    ``flags`` are the command line's raw values, ``arguments`` Python values; either wins over
    the variable. Settings not in ``names`` keep their default. Malformed values raise
    ``SettingsError`` naming each flag, argument or variable; with ``lenient`` (the in-process
    exporter), a malformed variable is logged once and its default used instead, unless its spec
    is ``strict``. ``unchecked`` settings take command-line or environment text as it is (doctor
    checks the URL itself, as one of its findings).
    """
    wanted = Settings.model_fields if names is None else names
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    sources: dict[str, str] = {}  # where each value came from, to name it in a later problem
    for name in wanted:
        item = spec(name)
        flag_value = (flags or {}).get(name)
        argument = (arguments or {}).get(name)
        if flag_value is not None and flag_value != []:
            source, raw, from_text = item.flag or name, flag_value, True
        elif argument is not None and argument != "":
            source, raw, from_text = name, argument, False
        else:
            env_value = env_str(item.env, environ)
            if env_value is None:
                continue
            source, raw, from_text = item.env, env_value, True
        sources[name] = source
        if name in unchecked and from_text:
            values[name] = raw
            continue
        try:
            if from_text:
                values[name] = item.parse(raw)
            else:
                values[name] = (item.check or _check_as_text(item))(raw)
        except ValueError as exc:
            if lenient and source == item.env and not item.strict:
                used = exc.fixed if isinstance(exc, Fixable) else default(name)
                _logger.warning("Ignoring %s: %s; using %r", item.env, exc, used)
                values[name] = used
            else:
                problems.append(Problem(source, str(exc)))
    # what the mode's unit takes: run.* keys in mode agent only, no rules in mode pairwise
    if values.get("review_rules"):
        from .modes.units import check_rules_file  # the rule language only when rules are given

        try:
            check_rules_file(values["review_rules"], values.get("mode") or default("mode"))
        except ValueError as exc:
            problems.append(Problem(sources.get("review_rules", "review_rules"), str(exc)))
    if problems:
        raise SettingsError(problems)
    return Settings(**values)


def _check_as_text(item: Spec) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        return item.parse(str(value))

    return check


def resolve_settings(*, environ: Mapping[str, str] | None = None, **arguments: Any) -> Settings:
    """The in-process exporter's settings: its arguments, then the environment, then the default.

    A malformed argument raises ValueError; a malformed variable is logged and defaulted
    (``read_settings(lenient=True)``).
    """
    exporter_names = [name for name in names() if spec(name).exporter]
    unknown = set(arguments) - set(exporter_names)
    if unknown:
        raise TypeError(f"not settings of the exporter: {', '.join(sorted(unknown))}")
    settings = read_settings(exporter_names, arguments=arguments, environ=environ, lenient=True)
    if settings.reveal_judges == "after_answer":
        raise SettingsError(
            [
                Problem(
                    spec("reveal_judges").env,
                    "'after_answer' needs serve: the in-process exporter receives no annotation webhook, so "
                    "it could never show the judges; run `otel-label-studio serve --reveal-judges "
                    "after_answer` and send it your traces and judge results, or use 'now'",
                )
            ]
        )
    return settings


# --- documentation ---------------------------------------------------------------------------

SETTINGS_PAGE = "docs/settings.md"
"""The page that holds the settings tables, relative to the repository's root."""


def readme_tables() -> dict[str, str]:
    """The settings tables of ``docs/settings.md`` (``exporter`` and ``serve``), from the model."""
    exporter = [
        "| argument | environment variable | default | meaning |",
        "|---|---|---|---|",
    ]
    serve = [
        "| option | environment variable | default | meaning |",
        "|---|---|---|---|",
    ]
    for name in names():
        item = spec(name)
        env = f"`{item.env}`" + (f" {item.env_note}" if item.env_note else "")
        if item.exporter:
            argument = f"`{name}`" if item.argument else "(environment only)"
            exporter.append(f"| {argument} | {env} | {shown_default(name)} | {item.doc} |")
        if item.serve:
            if item.flag is None:
                flag = "(environment only)"
            elif item.repeatable:
                flag = f"`{item.flag} {item.metavar}` (repeatable)"
            else:
                flag = f"`{item.flag}`"
            shown = "required" if name == "api_key" else shown_default(name)
            serve.append(f"| {flag} | {env} | {shown} | {item.doc} |")
    return {"exporter": "\n".join(exporter), "serve": "\n".join(serve)}


def _marked(table: str) -> tuple[str, str]:
    return f"<!-- settings table: {table} (python -m otel_label_studio.cli.readme {SETTINGS_PAGE}) -->", (
        f"<!-- end of settings table: {table} -->"
    )


def readme_sections(text: str) -> Iterator[tuple[str, str]]:
    """Each ``(table, text between its markers)`` in a page (``docs/settings.md``)."""
    for table in ("exporter", "serve"):
        start, end = _marked(table)
        if start in text and end in text:
            yield table, text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def render_readme(text: str) -> str:
    """``text`` with the settings tables between their markers rendered from the model."""
    for table, rendered in readme_tables().items():
        start, end = _marked(table)
        if start not in text or end not in text:
            raise ValueError(f"no markers for the {table} settings table: {start}")
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = f"{before}{start}\n{rendered}\n{end}{after}"
    return text
