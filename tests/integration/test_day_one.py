"""What a new user meets on day one, done the way they do it: a clean install, the README's commands.

The zero-code tests install the package into a fresh virtual environment (nothing but the package
and langchain-core) and run an app under ``opentelemetry-instrument`` with only the variables the
README names, against the real Label Studio of the session.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.delivery.labelstudio import ErrorKind, LabelStudioClient, LabelStudioError
from tests.support import fixtures
from tests.support import sidecar as sidecars
from tests.support.child_env import lock_constraints, user_environment
from tests.support.labelstudio_server import LabelStudioServer, free_port
from tests.support.otlp_requests import llm_spans
from tests.support.prerequisites import REPO_ROOT, missing
from tests.support.proxy import LabelStudioProxy

APP = """\
from opentelemetry.instrumentation.langchain import LangchainInstrumentor

LangchainInstrumentor().instrument()  # langchain-core alone: the README says to call it once

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage

model = FakeListChatModel(responses=["Paris.", "Rome."])
for question in ("Capital of France?", "Capital of Italy?"):
    print(model.invoke([SystemMessage("Answer briefly."), HumanMessage(question)]).content)
"""


@pytest.fixture(scope="module")
def clean_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install .`` (a copy of the checkout) and langchain-core into a new virtual environment,
    with the versions of requirements/app.txt (the lock) as constraints: the same packages any day."""
    root = tmp_path_factory.mktemp("clean-install")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(
        REPO_ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    constraints = root / "constraints.txt"
    constraints.write_text(lock_constraints(REPO_ROOT / "requirements" / "app.txt"))
    done = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-c",
            str(constraints),
            str(source),
            "langchain-core",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=user_environment(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def _run_app(venv: Path, workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    app = workdir / "app.py"
    app.write_text(APP)
    return subprocess.run(
        [str(venv / "bin" / "opentelemetry-instrument"), str(venv / "bin" / "python"), str(app)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _task_prompts(ls, title: str) -> list[str]:  # type: ignore[no-untyped-def]
    projects = [p for p in ls.projects.list(title=title) if p.title == title]
    assert projects, f"no project {title!r}"
    return sorted(str(t.data["prompt"]) for t in ls.tasks.list(project=projects[0].id, fields="all"))


@pytest.mark.integration
def test_zero_code_on_a_clean_install_makes_tasks(
    clean_install: Path, label_studio: LabelStudioServer, ls, project_name: str, tmp_path: Path
) -> None:
    # The README's command, word for word: OTEL_TRACES_EXPORTER=label_studio opentelemetry-instrument ...
    env = user_environment(
        OTEL_TRACES_EXPORTER="label_studio",
        OTEL_LABEL_STUDIO_PROJECT_NAME=project_name,
        LABEL_STUDIO_URL=label_studio.url,
        LABEL_STUDIO_API_KEY=label_studio.pat,
    )
    done = _run_app(clean_install, tmp_path, env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["Paris.", "Rome."]
    assert "Traceback" not in done.stderr and "not found in entry point" not in done.stderr, done.stderr
    prompts = _task_prompts(ls, project_name)
    assert len(prompts) == 2 and "Capital of France?" in prompts[0] and "Capital of Italy?" in prompts[1]


@pytest.mark.integration
def test_zero_code_otlp_beside_label_studio_on_a_clean_install(
    clean_install: Path, label_studio: LabelStudioServer, ls, project_name: str, tmp_path: Path
) -> None:
    # The `otlp,label_studio` example (README.md, docs/instrumentation.md), with a real OTLP receiver (serve)
    # as the Collector.
    relay = sidecars.start(label_studio, tmp_path / "serve", project_name + "-via-otlp", token=None)
    try:
        env = user_environment(
            OTEL_TRACES_EXPORTER="otlp,label_studio",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{relay.grpc_target}",
            OTEL_LABEL_STUDIO_PROJECT_NAME=project_name,
            LABEL_STUDIO_URL=label_studio.url,
            LABEL_STUDIO_API_KEY=label_studio.pat,
        )
        done = _run_app(clean_install, tmp_path, env)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr, done.stderr
        assert len(_task_prompts(ls, project_name)) == 2
        assert relay.terminate() == 0  # drains what it received into Label Studio
        assert len(_task_prompts(ls, project_name + "-via-otlp")) == 2
    finally:
        relay.kill()


def test_opentelemetry_instrument_defaults_need_no_otlp_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.instrumentation.distro import BaseDistro

    from otel_label_studio.distro import LabelStudioDistro

    for name in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "")  # empty counts as unset
    distro = LabelStudioDistro()
    assert isinstance(distro, BaseDistro)
    distro.configure()
    assert os.environ["OTEL_TRACES_EXPORTER"] == "label_studio"
    assert os.environ["OTEL_METRICS_EXPORTER"] == "none" and os.environ["OTEL_LOGS_EXPORTER"] == "none"
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlp")
    distro.configure()
    assert os.environ["OTEL_METRICS_EXPORTER"] == "otlp"  # what the user set wins


def _listening_sockets(port: int) -> dict[int, str]:
    """Socket inode -> local address of every socket listening on ``port``, from /proc/net/tcp{,6}."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        lines = Path(table).read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found[int(fields[9])] = _address(address)
    return found


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ".".join(str(b) for b in reversed(raw))
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]  # four little-endian 32-bit words
    return ipaddress.IPv6Address(b"".join(words)).compressed


def _socket_inodes_of_session(session_id: int) -> set[int]:
    inodes = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getsid(int(proc.name)) != session_id:
                continue
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
        except (OSError, ProcessLookupError):
            continue  # gone meanwhile, or not ours to read
    return inodes


@pytest.mark.integration
def test_label_studio_of_the_tests_and_the_demo_listens_on_loopback_only(
    label_studio: LabelStudioServer,
) -> None:
    if label_studio.process is None:
        missing("the Label Studio of this session was not started by it (OTEL_LS_TEST_URL)")
    port = int(label_studio.url.rsplit(":", 1)[1])
    listening = _listening_sockets(port)
    ours = _socket_inodes_of_session(label_studio.process.pid)  # it runs in a session of its own
    addresses = {address for inode, address in listening.items() if inode in ours}
    assert addresses, f"no socket of Label Studio's processes listens on port {port}: {listening}"
    assert addresses <= {"127.0.0.1", "::1"}, f"Label Studio listens on {addresses}"


# --- 3. a URL copied from the browser ----------------------------------------------------------------


def test_a_label_studio_url_must_be_the_base_url_and_says_which() -> None:
    from otel_label_studio.config import base_url_problem

    assert base_url_problem("http://127.0.0.1:8080") is None
    assert base_url_problem("https://example.com/label-studio/") is None  # served under a prefix
    page = base_url_problem("http://127.0.0.1:8080/projects/1/data?tab=2")
    assert page is not None and page.suggestion == "http://127.0.0.1:8080"
    assert "not its base URL: use http://127.0.0.1:8080" in page.message
    prefixed = base_url_problem("https://example.com/label-studio/projects/3")
    assert prefixed is not None and prefixed.suggestion == "https://example.com/label-studio"
    bare = base_url_problem("localhost:8080")
    assert bare is not None and "add http://" in bare.message and bare.suggestion == "http://localhost:8080"
    with pytest.raises(ValueError, match="not its base URL: use http://127.0.0.1:8080"):
        LabelStudioSpanExporter(url="http://127.0.0.1:8080/projects/1", api_key="k")


@pytest.mark.integration
@pytest.mark.parametrize("token", ["legacy_token", "pat"])
def test_a_page_url_is_said_to_be_one_without_printing_the_page(
    label_studio: LabelStudioServer, token: str
) -> None:
    client = LabelStudioClient(f"{label_studio.url}/projects/1", getattr(label_studio, token), 10)
    try:
        with pytest.raises(LabelStudioError) as raised:
            client.whoami()
    finally:
        client.close()
    error = raised.value
    assert error.kind == ErrorKind.UNREACHABLE  # not blamed on the key, not refused for good: records wait
    assert "not Label Studio's API" in error.detail and "base URL" in error.detail
    assert "<" not in str(error)


@pytest.mark.integration
def test_the_exporter_given_a_page_url_in_the_environment_delivers_to_the_base_url(
    label_studio: LabelStudioServer, ls, project_name: str, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setenv("LABEL_STUDIO_URL", f"{label_studio.url}/projects/1")
    exporter = LabelStudioSpanExporter(api_key=label_studio.pat, project_name=project_name)
    try:
        assert exporter.settings.url == label_studio.url
        exporter.export(fixtures.load("legacy", "completion"))
        assert exporter.force_flush(30_000), exporter.counts
    finally:
        exporter.shutdown()
    assert f"not its base URL: use {label_studio.url}" in caplog.text
    assert len(_task_prompts(ls, project_name)) == 1


# --- 4. the in-process exporter's shutdown drains, and says one thing ---------------------------------


@pytest.mark.integration
def test_shutdown_keeps_delivering_for_its_timeout(
    label_studio: LabelStudioServer, ls, project_name: str, caplog
) -> None:
    proxy = LabelStudioProxy(label_studio.url)  # down: Label Studio unreachable
    exporter = LabelStudioSpanExporter(
        url=proxy.url, api_key=label_studio.pat, project_name=project_name, timeout=8
    )
    try:
        exporter.export(fixtures.load("legacy", "completion"))
        _wait_for(lambda: _outage_said(caplog), 10)  # delivery failed once and now waits in a backoff
        reopen = threading.Timer(2.0, proxy.up)  # Label Studio back while shutdown drains
        reopen.start()
        started = time.monotonic()
        exporter.shutdown()
        took = time.monotonic() - started
        reopen.join()
    finally:
        proxy.close()
    assert len(_task_prompts(ls, project_name)) == 1, f"shutdown returned after {took:.2f}s"
    assert exporter.counts["waiting"] == 0
    assert not [r for r in caplog.records if "not delivered" in r.getMessage()]  # nothing was lost
    outage = _outage_said(caplog)
    assert "nothing is dropped" not in outage and "wait in memory" in outage  # what the memory queue means
    assert "lost" in outage and "spool_path=" in outage


def test_shutdown_says_plainly_what_is_lost_without_a_spool(caplog) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    exporter = LabelStudioSpanExporter(url=nowhere, api_key="k", project_name="never-made", timeout=1.5)
    exporter.export(fixtures.load("legacy", "completion"))
    _wait_for(lambda: _outage_said(caplog), 10)
    started = time.monotonic()
    exporter.shutdown()
    assert time.monotonic() - started >= 1.0  # it kept trying, not returned at once
    (lost,) = [r for r in caplog.records if "not delivered" in r.getMessage()]
    assert lost.levelname == "ERROR"
    said = lost.getMessage()
    assert said.startswith("1 record was not delivered") and "and is lost" in said and "spool_path=" in said


def _outage_said(caplog) -> str:  # type: ignore[no-untyped-def]
    """The once-per-outage error line of delivery, or ''."""
    said = [r.getMessage() for r in caplog.records if r.name == "otel_label_studio.delivery.outages"]
    return said[0] if said else ""


def _wait_for(condition, seconds: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# --- 9. /readyz looks and never writes --------------------------------------------------------------


@pytest.mark.integration
def test_readyz_creates_no_project(
    label_studio: LabelStudioServer, ls, project_name: str, tmp_path: Path
) -> None:
    side = sidecars.start(label_studio, tmp_path / "data", project_name)
    try:
        ready = httpx.get(f"{side.http_url}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        assert (
            f"project {project_name!r} does not exist yet and will be created on first delivery" in ready.text
        )
        assert not [p for p in ls.projects.list(title=project_name) if p.title == project_name]
    finally:
        assert side.terminate() == 0


# --- 12. small things -----------------------------------------------------------------------------


@pytest.mark.integration
def test_serve_says_where_to_point_the_url_when_nothing_answers_there(
    label_studio: LabelStudioServer, project_name: str, tmp_path: Path
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    side = sidecars.start(label_studio, tmp_path / "data", project_name, url=nowhere)
    try:
        body = llm_spans(["is anyone there?"]).SerializeToString()
        headers = {"Content-Type": "application/x-protobuf", **side.auth()}
        assert httpx.post(side.traces_url, content=body, headers=headers).status_code == 200
        _wait_for(lambda: "Connection refused" in side.logs(), 30)
    finally:
        assert side.terminate() == 0
    (line,) = [line for line in side.logs().splitlines() if "Connection refused" in line and "wait" in line]
    assert "--url" in line and "LABEL_STUDIO_URL" in line, line
