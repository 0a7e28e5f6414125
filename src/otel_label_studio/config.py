"""Settings: an argument wins over the environment, the environment over the default.

Every environment variable the bridge reads is declared here, once, with what it means.
An empty variable counts as unset. A malformed scalar (a number that is not a number)
logs a warning and falls back to the default, as OpenTelemetry's own exporters do;
a malformed label config is an error, because silently using another config would create
a project that is not what the user asked for.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Callable, Mapping, NamedTuple, Sequence, TypeVar
from urllib.parse import urlsplit, urlunsplit

_logger = logging.getLogger(__name__)

LABEL_STUDIO_URL = "LABEL_STUDIO_URL"
"""Base URL of Label Studio. Default ``http://localhost:8080`` (Label Studio's own default port)."""

LABEL_STUDIO_API_KEY = "LABEL_STUDIO_API_KEY"
"""Access token from "Account & Settings": a Personal Access Token (JWT) or a legacy token."""

LABEL_STUDIO_PROJECT_ID = "LABEL_STUDIO_PROJECT_ID"
"""Numeric id of an existing project. When set, tasks go there and no project is looked up by title."""

OTEL_LABEL_STUDIO_PROJECT_NAME = "OTEL_LABEL_STUDIO_PROJECT_NAME"
"""Project title, strftime'd at delivery time (a daily title rolls over).
Default ``LangChain-%Y-%m-%d``."""

OTEL_LABEL_STUDIO_PROJECT_CONFIG = "OTEL_LABEL_STUDIO_PROJECT_CONFIG"
"""Path to a label config XML file used instead of the layout's default config."""

OTEL_LABEL_STUDIO_MODE = "OTEL_LABEL_STUDIO_MODE"
"""Layout of new projects: ``prompt`` (default) or ``chat``."""

OTEL_LABEL_STUDIO_BATCH_SIZE = "OTEL_LABEL_STUDIO_BATCH_SIZE"
"""Most tasks in one import request. Default 500 (Label Studio imports fastest in large requests)."""

OTEL_LABEL_STUDIO_TIMEOUT = "OTEL_LABEL_STUDIO_TIMEOUT"
"""Seconds one request to Label Studio may take; also how long the exporter's shutdown lets
delivery drain. Default 10."""

OTEL_LABEL_STUDIO_IMPORT_TIMEOUT = "OTEL_LABEL_STUDIO_IMPORT_TIMEOUT"
"""Seconds delivery waits for Label Studio's answer to an import (connecting is bounded by the
timeout). Records of an import that got no answer are imported again only once this long has
passed since it was sent: until then it may still land. Default 600."""

OTEL_LABEL_STUDIO_REVIEWERS_PER_TASK = "OTEL_LABEL_STUDIO_REVIEWERS_PER_TASK"
"""New projects ask each task for this many annotations from different people (Label Studio's
``maximum_annotations``; see the README for what open-source Label Studio enforces). Default 1."""

OTEL_LABEL_STUDIO_INCLUDE_ERRORS = "OTEL_LABEL_STUDIO_INCLUDE_ERRORS"
"""``true`` turns failed LLM calls (no output) into tasks showing the error. Default ``false``."""

OTEL_LABEL_STUDIO_METADATA_PREFIX = "OTEL_LABEL_STUDIO_METADATA_PREFIX"
"""Attribute prefix of run metadata on chat spans. Default ``traceloop.association.properties``
(the instrumentation's ``metadata_key_prefix``)."""

OTEL_LABEL_STUDIO_REDACT = "OTEL_LABEL_STUDIO_REDACT"
"""A regular expression masked in prompts and responses before a task is made; several as a JSON
list (``["secret-\\w+", "\\d{16}"]``). Matches become ``[REDACTED]``. Default: none."""

OTEL_LABEL_STUDIO_REDACT_BUILTIN = "OTEL_LABEL_STUDIO_REDACT_BUILTIN"
"""``true`` also masks e-mail addresses and common API-key shapes (see ``redact.BUILTIN_PATTERNS``).
Default ``false``."""

OTEL_LABEL_STUDIO_SPOOL_PATH = "OTEL_LABEL_STUDIO_SPOOL_PATH"
"""In-process exporter: keep undelivered records in this SQLite file (or directory) instead of
memory, so they are delivered after a restart. Default: unset (a bounded in-memory queue)."""

OTEL_LABEL_STUDIO_MAX_QUEUE_SIZE = "OTEL_LABEL_STUDIO_MAX_QUEUE_SIZE"
"""In-process exporter: most records waiting in memory; beyond it new ones are dropped and counted.
Default 10000."""

# --- the `otel-label-studio serve` process (each also a command-line option) ---------------------

OTEL_LABEL_STUDIO_HOST = "OTEL_LABEL_STUDIO_HOST"
"""Address the receiver listens on. Default ``127.0.0.1``; ``0.0.0.0`` in a container."""

OTEL_LABEL_STUDIO_HTTP_PORT = "OTEL_LABEL_STUDIO_HTTP_PORT"
"""OTLP/HTTP port (also ``/healthz``, ``/readyz``, ``/metrics``). Default 4318."""

OTEL_LABEL_STUDIO_GRPC_PORT = "OTEL_LABEL_STUDIO_GRPC_PORT"
"""OTLP/gRPC port. Default 4317."""

OTEL_LABEL_STUDIO_DATA_DIR = "OTEL_LABEL_STUDIO_DATA_DIR"
"""Directory of the durable spool. Default ``$XDG_DATA_HOME/otel-label-studio``
(``~/.local/share/otel-label-studio``)."""

OTEL_LABEL_STUDIO_AUTH_TOKEN = "OTEL_LABEL_STUDIO_AUTH_TOKEN"
"""When set, senders must send ``Authorization: Bearer <token>`` (HTTP header or gRPC metadata)."""

OTEL_LABEL_STUDIO_MAX_BODY_BYTES = "OTEL_LABEL_STUDIO_MAX_BODY_BYTES"
"""Largest request accepted, measured after decompression (``64MiB``, ``1000000``...). Default 64 MiB."""

OTEL_LABEL_STUDIO_MAX_CONCURRENT_DECODES = "OTEL_LABEL_STUDIO_MAX_CONCURRENT_DECODES"
"""Requests (HTTP and gRPC together) decoded, mapped and spooled at once, once their body has
arrived; a request that finds no free slot within 2 s is answered 503 / UNAVAILABLE with a retry
delay. Default 2."""

OTEL_LABEL_STUDIO_MAX_RECEIVE_BYTES = "OTEL_LABEL_STUDIO_MAX_RECEIVE_BYTES"
"""Bytes of request bodies being received at once, before decoding (``256MiB``...). OTLP/HTTP
charges each body's bytes as they arrive, so slow senders hold only what they sent; a body that
does not fit is answered 503 / UNAVAILABLE with a retry delay. gRPC receives whole messages in
as many slots as this holds ``--max-body-bytes``. At least the body cap. Default 256 MiB."""

OTEL_LABEL_STUDIO_MAX_SPANS_PER_REQUEST = "OTEL_LABEL_STUDIO_MAX_SPANS_PER_REQUEST"
"""Most spans one export request may hold; more is 413 / RESOURCE_EXHAUSTED. Default 100000."""

OTEL_LABEL_STUDIO_HTTP_READ_TIMEOUT = "OTEL_LABEL_STUDIO_HTTP_READ_TIMEOUT"
"""Seconds an OTLP/HTTP request body may take to arrive once it is read; slower is 408. Default 30."""

OTEL_LABEL_STUDIO_DRAIN_SECONDS = "OTEL_LABEL_STUDIO_DRAIN_SECONDS"
"""On SIGTERM, how long delivery may keep draining the spool before the process exits. Default 10."""

OTEL_LABEL_STUDIO_SPOOL_MAX_ROWS = "OTEL_LABEL_STUDIO_SPOOL_MAX_ROWS"
"""Most records the spool holds before the receiver answers 503 (retry later). Default 100000."""

OTEL_LABEL_STUDIO_SPOOL_MAX_BYTES = "OTEL_LABEL_STUDIO_SPOOL_MAX_BYTES"
"""Largest spool file before the receiver answers 503 (retry later). Default 1GiB."""

OTEL_LABEL_STUDIO_FEEDBACK_ENDPOINT = "OTEL_LABEL_STUDIO_FEEDBACK_ENDPOINT"
"""OTLP/HTTP endpoint (``http://collector:4318``) that receives a ``gen_ai.evaluation.result``
event for each annotation Label Studio reports through the webhook. Unset: webhooks are refused."""

OTEL_LABEL_STUDIO_LOG_FORMAT = "OTEL_LABEL_STUDIO_LOG_FORMAT"
"""``json`` (default: one JSON object per line) or ``text``."""

OTEL_LABEL_STUDIO_LOG_LEVEL = "OTEL_LABEL_STUDIO_LOG_LEVEL"
"""``DEBUG``, ``INFO`` (default), ``WARNING`` or ``ERROR``."""

DEFAULT_URL = "http://localhost:8080"
DEFAULT_PROJECT_NAME = "LangChain-%Y-%m-%d"
DEFAULT_MODE = "prompt"
DEFAULT_BATCH_SIZE = 500
DEFAULT_MAX_QUEUE_SIZE = 10_000
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_IMPORT_TIMEOUT_SECONDS = 600.0
DEFAULT_METADATA_PREFIX = "traceloop.association.properties"
MODES = ("prompt", "chat")

T = TypeVar("T")


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


def env_str(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable's value, or None when it is unset or empty."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    return value or None


def _env_parsed(name: str, parse: Callable[[str], T], default: T, environ: Mapping[str, str] | None) -> T:
    raw = env_str(name, environ)
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError:
        _logger.warning("Ignoring %s=%r: not a valid value; using %r", name, raw, default)
        return default


def parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(raw)
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError(raw)
    return value


def _project_id(raw: str) -> int:
    return _positive_int(raw)


@dataclass(frozen=True)
class Settings:
    """What the exporter and the receiver need to know, resolved once at construction."""

    url: str = DEFAULT_URL
    api_key: str | None = None
    project_id: int | None = None
    project_name: str = DEFAULT_PROJECT_NAME
    project_config: str | None = None
    mode: str = DEFAULT_MODE
    batch_size: int = DEFAULT_BATCH_SIZE
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    import_timeout: float = DEFAULT_IMPORT_TIMEOUT_SECONDS
    include_errors: bool = False
    metadata_prefix: str = DEFAULT_METADATA_PREFIX
    redact: tuple[str, ...] = ()
    redact_builtin: bool = False
    spool_path: str | None = None
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE
    reviewers_per_task: int = 1

    def __repr__(self) -> str:  # never print the key
        shown = "set" if self.api_key else "unset"
        return (
            f"Settings(url={self.url!r}, api_key=<{shown}>, project_id={self.project_id!r}, "
            f"project_name={self.project_name!r}, mode={self.mode!r}, batch_size={self.batch_size})"
        )


def read_config_file(path: str) -> str:
    """Read a label config file, with an error that says which file and why."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise ValueError(f"cannot read label config file {path!r}: {exc.strerror or exc}") from exc


def resolve_settings(
    *,
    url: str | None = None,
    api_key: str | None = None,
    project_id: int | str | None = None,
    project_name: str | None = None,
    project_config: str | None = None,
    mode: str | None = None,
    batch_size: int | None = None,
    timeout: float | None = None,
    include_errors: bool | None = None,
    metadata_prefix: str | None = None,
    redact: Sequence[str] | None = None,
    redact_builtin: bool | None = None,
    spool_path: str | None = None,
    max_queue_size: int | None = None,
    import_timeout: float | None = None,
    reviewers_per_task: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge arguments, environment and defaults. Explicit bad arguments raise ValueError."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if mode is None:
        mode = _env_parsed(OTEL_LABEL_STUDIO_MODE, _mode, DEFAULT_MODE, environ)

    if project_id is not None:
        try:
            project_id = _project_id(str(project_id))
        except ValueError:
            raise ValueError(f"project_id must be a positive integer, not {project_id!r}") from None
    else:
        project_id = _env_parsed(LABEL_STUDIO_PROJECT_ID, _project_id, None, environ)

    if max_queue_size is not None and max_queue_size < 1:
        raise ValueError(f"max_queue_size must be at least 1, not {max_queue_size!r}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size!r}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if reviewers_per_task is not None and (isinstance(reviewers_per_task, bool) or reviewers_per_task < 1):
        raise ValueError(f"reviewers_per_task must be at least 1, not {reviewers_per_task!r}")
    if import_timeout is not None and not import_timeout > 0:
        raise ValueError(f"import_timeout must be a positive number of seconds, not {import_timeout!r}")

    if project_config is None:
        config_path = env_str(OTEL_LABEL_STUDIO_PROJECT_CONFIG, environ)
        if config_path is not None:
            try:
                project_config = read_config_file(config_path)
            except ValueError as exc:
                raise ValueError(f"{OTEL_LABEL_STUDIO_PROJECT_CONFIG}: {exc}") from None

    if redact is None:
        raw_redact = env_str(OTEL_LABEL_STUDIO_REDACT, environ)
        try:
            redact = parse_patterns(raw_redact) if raw_redact else ()
        except ValueError as exc:
            raise ValueError(f"{OTEL_LABEL_STUDIO_REDACT}: {exc}") from None
    elif isinstance(redact, str):
        redact = (redact,)

    if url:
        problem = base_url_problem(url)
        if problem is not None:
            raise ValueError(f"url: {problem.message}")
    else:
        url = _env_url(environ)

    return Settings(
        url=url.rstrip("/"),
        api_key=api_key or env_str(LABEL_STUDIO_API_KEY, environ),
        project_id=project_id,
        project_name=project_name or env_str(OTEL_LABEL_STUDIO_PROJECT_NAME, environ) or DEFAULT_PROJECT_NAME,
        project_config=project_config,
        mode=mode,
        batch_size=batch_size
        or _env_parsed(OTEL_LABEL_STUDIO_BATCH_SIZE, _positive_int, DEFAULT_BATCH_SIZE, environ),
        timeout=timeout
        or _env_parsed(OTEL_LABEL_STUDIO_TIMEOUT, _positive_float, DEFAULT_TIMEOUT_SECONDS, environ),
        import_timeout=import_timeout
        or _env_parsed(
            OTEL_LABEL_STUDIO_IMPORT_TIMEOUT, _positive_float, DEFAULT_IMPORT_TIMEOUT_SECONDS, environ
        ),
        include_errors=include_errors
        if include_errors is not None
        else _env_parsed(OTEL_LABEL_STUDIO_INCLUDE_ERRORS, parse_bool, False, environ),
        metadata_prefix=metadata_prefix
        or env_str(OTEL_LABEL_STUDIO_METADATA_PREFIX, environ)
        or DEFAULT_METADATA_PREFIX,
        redact=tuple(redact),
        redact_builtin=redact_builtin
        if redact_builtin is not None
        else _env_parsed(OTEL_LABEL_STUDIO_REDACT_BUILTIN, parse_bool, False, environ),
        spool_path=spool_path or env_str(OTEL_LABEL_STUDIO_SPOOL_PATH, environ),
        max_queue_size=max_queue_size
        or _env_parsed(OTEL_LABEL_STUDIO_MAX_QUEUE_SIZE, _positive_int, DEFAULT_MAX_QUEUE_SIZE, environ),
        reviewers_per_task=reviewers_per_task
        or _env_parsed(OTEL_LABEL_STUDIO_REVIEWERS_PER_TASK, _positive_int, 1, environ),
    )


def _env_url(environ: Mapping[str, str] | None) -> str:
    """``LABEL_STUDIO_URL``; a page URL copied from the browser is cut to the base URL, with a warning."""
    raw = env_str(LABEL_STUDIO_URL, environ)
    if raw is None:
        return DEFAULT_URL
    problem = base_url_problem(raw)
    if problem is None:
        return raw
    used = problem.suggestion or DEFAULT_URL
    _logger.warning("%s=%s; using %s meanwhile", LABEL_STUDIO_URL, problem.message, used)
    return used


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


def _mode(raw: str) -> str:
    if raw not in MODES:
        raise ValueError(raw)
    return raw
