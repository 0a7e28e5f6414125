"""``otel-label-studio doctor``: what is wrong with this setup, one line per finding, each with a fix.

Checks in the order a user would fix them: Label Studio reachable at the URL, the key accepted
(and which kind it is), the project there or creatable, its label config able to take tasks,
the review-rules file as serve's start checks it against the mode, the webhook secret (with a
feedback endpoint), LangChain instrumented once by ``opentelemetry-instrument`` in the environment
doctor runs in, and the receiver's ports free (or held by a healthy serve). Nothing is created or
changed.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Iterable

import httpx

from .bridge import projects_for
from .config import Settings, SettingsError, base_url_problem, read_settings, webhook_secret_problem
from .delivery.labelstudio import (
    ErrorKind,
    LabelStudioClient,
    LabelStudioError,
    health,
    token_kind,
)
from .delivery.problems import (
    BASE_URL_FIX,
    Problem,
    key_refused,
    label_studio_problem,
    no_project,
    not_label_studio,
)
from .distro import langchain_left_off
from .modes.units import task_layout
from .reading import doubles

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Finding:
    status: str
    check: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" -> {self.fix}" if self.fix else ""
        return f"{self.status:<4} {self.check}: {self.detail}{fix}"


def diagnose(
    settings: Settings,
    *,
    host: str | None = None,
    ports: tuple[int, ...] = (),
    timeout: float = 10.0,
    rules: str | None = None,
) -> list[Finding]:
    """``rules`` is the review-rules path as given (checked here, as serve's start checks it)."""
    findings = [_url(settings.url, timeout)]
    if findings[0].status != FAIL:
        client = LabelStudioClient(settings.url, settings.api_key, timeout)
        try:
            key = _key(client, settings)
            findings.append(key)
            if key.status != FAIL:
                findings.extend(_project(client, settings, timeout))
        finally:
            client.close()
    if rules:
        findings.append(_rules(rules, settings.mode))
    if settings.feedback_endpoint or settings.reveal_judges == "after_answer":
        findings.append(_webhooks(settings))
    instrumentors = list(entry_points(group="opentelemetry_instrumentor"))
    left_off = langchain_left_off(instrumentors)  # installed, but opentelemetry-instrument leaves it off
    off = {item.distribution for item in left_off}
    on = [entry for entry in instrumentors if entry.dist is None or entry.dist.name not in off]
    if not left_off or langchain_instrumentations(on):
        findings.append(_instrumentations(on))
    findings.extend(Finding(WARN, "instrumentation", item.what(), item.fix()) for item in left_off)
    return findings + _ports(host, ports)


def langchain_instrumentations(instrumentors: Iterable[EntryPoint]) -> list[str]:
    """The distributions whose ``opentelemetry_instrumentor`` is named ``langchain``, each once: all
    of them are turned on by ``opentelemetry-instrument``, which tells instrumentors apart by that name
    only (so ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=langchain`` turns them all off)."""
    found = {
        entry.dist.name if entry.dist is not None else entry.value.partition(":")[0]
        for entry in instrumentors
        if entry.name == "langchain"
    }
    return sorted(found)


def _instrumentations(instrumentors: Iterable[EntryPoint]) -> Finding:
    found = langchain_instrumentations(instrumentors)
    if not found:
        return Finding(
            OK, "instrumentation", "no LangChain instrumentation for opentelemetry-instrument here"
        )
    if len(found) == 1:
        return Finding(
            OK, "instrumentation", f"opentelemetry-instrument here instruments LangChain once ({found[0]})"
        )
    return Finding(
        WARN,
        "instrumentation",
        f"{' and '.join(found)} are both installed here, each an instrumentor of LangChain named langchain: "
        "with both on, each LLM call gets two spans (modes prompt and chat keep one task per call; agent "
        "and pairwise make a task of each)",
        doubles.FIX,
    )


def _rules(path: str, mode: str) -> Finding:
    """The file as serve's start reads it: loadable, and fit for the mode (run.* keys, pairwise)."""
    try:
        read_settings(("mode", "review_rules"), arguments={"mode": mode, "review_rules": path}, environ={})
    except SettingsError as error:
        detail = "; ".join(problem.message for problem in error.problems)
        return Finding(
            FAIL,
            "rules",
            f"serve would refuse to start: {detail}",
            f"correct {path} or the mode as it says; otel-label-studio rules check --review-rules {path} "
            f"--mode {mode} checks the file alone",
        )
    return Finding(OK, "rules", f"{path} loads and fits mode {mode}")


def _webhooks(settings: Settings) -> Finding:
    """serve's start check of the webhook secret (with --feedback-endpoint, or --reveal-judges
    after_answer)."""
    problem = webhook_secret_problem(
        settings.feedback_endpoint,
        settings.webhook_secret,
        settings.auth_token,
        reveal_judges=settings.reveal_judges,
    )
    if problem is not None:
        return Finding(FAIL, "webhooks", f"serve would refuse to start: {problem}")
    return Finding(
        OK,
        "webhooks",
        "webhooks are taken with the webhook secret (register them with it: otel-label-studio webhook)",
    )


def _url(url: str, timeout: float) -> Finding:
    problem = base_url_problem(url)
    if problem is not None:
        fix = f"set LABEL_STUDIO_URL / --url to {problem.suggestion}" if problem.suggestion else ""
        return Finding(FAIL, "url", problem.message, fix or BASE_URL_FIX)
    try:
        status, up = health(url, timeout)
    except LabelStudioError as error:
        return _fail("url", label_studio_problem(error, url))
    if status != 200:
        return _fail("url", not_label_studio(url, f"{url}/health answered HTTP {status}"))
    if not up:  # a web page, or another server's /health
        return _fail("url", not_label_studio(url, f"{url}/health is not Label Studio's health check"))
    return Finding(OK, "url", f"Label Studio answers at {url}")


def _fail(check: str, problem: Problem) -> Finding:
    """A finding in the words every command uses for the same problem."""
    return Finding(FAIL, check, problem.what, problem.fix)


def _key(client: LabelStudioClient, settings: Settings) -> Finding:
    if not settings.api_key:
        return Finding(
            FAIL,
            "key",
            "no API key",
            "copy a token from Label Studio > Account & Settings and export LABEL_STUDIO_API_KEY=...",
        )
    kind = token_kind(settings.api_key)
    try:
        user = client.whoami()
    except LabelStudioError as error:
        if error.kind != ErrorKind.AUTH:
            return _fail("key", label_studio_problem(error, settings.url))
        return _fail("key", key_refused(settings.url, error.detail, kind))
    return Finding(OK, "key", f"a {kind}, accepted for {user}")


def _project(client: LabelStudioClient, settings: Settings, timeout: float) -> list[Finding]:
    try:
        layout = task_layout(settings.mode, settings.project_config)
    except ValueError as exc:
        return [
            Finding(
                FAIL, "config", f"the label config cannot take tasks: {exc}", "fix the project config file"
            )
        ]
    key = projects_for(settings, client, layout).key()
    try:
        if settings.project_id is not None:
            project = client.get_project(settings.project_id, timeout)
        else:
            found = client.find_project(key, timeout)
            if found is None:
                return [
                    Finding(
                        OK, "project", f"no project titled {key!r} yet: it is created at the first delivery"
                    ),
                    Finding(OK, "config", f"the {settings.mode} layout's config takes tasks"),
                ]
            project = found
    except LabelStudioError as error:
        if error.kind == ErrorKind.PROJECT_GONE:
            return [_fail("project", no_project(settings.url, settings.project_id))]
        return [
            Finding(
                FAIL, "project", f"cannot read the project: {error.detail}", "check the key's permissions"
            )
        ]
    findings = [Finding(OK, "project", f"{project.title!r} (id {project.id}) is readable")]
    try:
        bound = layout.rebind(project.label_config)
    except ValueError as exc:
        return [
            *findings,
            Finding(
                FAIL,
                "config",
                f"project {project.title!r} cannot take {layout.noun} tasks: {exc}",
                f"{layout.fix}, or use another project",
            ),
        ]
    return [*findings, Finding(OK, "config", bound.fit())]


def _ports(host: str | None, ports: tuple[int, ...]) -> list[Finding]:
    """``ports`` is (http, grpc) as serve would use them; a port held by a running serve is fine.

    Each port is asked on its own protocol: the HTTP port for serve's /healthz, the gRPC port for
    an OTLP/gRPC answer (an empty export, which changes nothing).
    """
    address = host or "127.0.0.1"
    findings = []
    for index, port in enumerate(ports):
        http = index == 0
        name = "OTLP/HTTP" if http else "OTLP/gRPC"
        if _free(address, port):
            findings.append(Finding(OK, "port", f"{name} {address}:{port} is free for serve"))
        elif _healthy_serve(address, port) if http else _answers_otlp_grpc(address, port):
            findings.append(
                Finding(OK, "port", f"{name} {address}:{port} is held by a running, healthy serve")
            )
        else:
            flag = "--http-port" if http else "--grpc-port"
            findings.append(
                Finding(
                    FAIL,
                    "port",
                    f"{name} {address}:{port} is in use by another program",
                    f"stop it, or give serve another {flag}",
                )
            )
    return findings


def _free(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def _healthy_serve(host: str, port: int) -> bool:
    try:
        return httpx.get(f"http://{host}:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _answers_otlp_grpc(host: str, port: int) -> bool:
    """An OTLP/gRPC trace receiver answers an empty export (or refuses it for want of a token)."""
    import grpc  # start-up time: gRPC only for the gRPC check
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc  # with grpc

    ExportTraceServiceRequest = trace_service_pb2.ExportTraceServiceRequest
    TraceServiceStub = trace_service_pb2_grpc.TraceServiceStub

    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with grpc.insecure_channel(target) as channel:
        try:
            TraceServiceStub(channel).Export(ExportTraceServiceRequest(), timeout=2)
        except grpc.RpcError as error:
            return error.code() == grpc.StatusCode.UNAUTHENTICATED  # serve with --auth-token
    return True
