"""The spool under operational faults, with real processes: a full disk, a byte limit reached
during an outage, and a damaged spool file."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_label_studio.reading.record import LLMRecord, Message
from otel_label_studio.store.spool import Spool
from tests.support import sidecar
from tests.support.disk_full import FLAG_VARIABLE
from tests.support.label_studio_reads import assert_exactly_once, wait_for_tasks
from tests.support.otlp_requests import PROTOBUF, llm_spans, span_ids
from tests.support.prerequisites import REPO_ROOT
from tests.support.proxy import LabelStudioProxy
from tests.support.serve_calls import metrics, wait_until_drained

pytestmark = pytest.mark.integration

DISK_FULL_WRAPPER = [sys.executable, str(REPO_ROOT / "tests" / "support" / "disk_full.py")]
FULL_WARNING = "No space left on the disk of the spool file"
FREE_AGAIN = "Space is free again on the disk of the spool file"


# --- a full disk ------------------------------------------------------------------------------------------


class SmallDisk:
    """A 16 MiB tmpfs as serve's data directory, filled and freed by the test; where mounting is
    not permitted, a flag file that the wrapper in support/disk_full.py turns into SQLite's
    "database or disk is full" at each commit."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.path = root / "small-disk"  # the serve log goes next to it, on the roomy disk
        self.path.mkdir()
        self.filler = self.path / "filler"
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(self.path)],
            capture_output=True,
            text=True,
        )
        self.mounted = mounted.returncode == 0
        self.command: list[str] | None = None
        if not self.mounted:
            self.flag = root / "disk-is-full"
            monkeypatch.setenv(FLAG_VARIABLE, str(self.flag))
            self.command = DISK_FULL_WRAPPER

    def fill(self) -> None:
        if not self.mounted:
            self.flag.touch()
            return
        with open(self.filler, "wb", buffering=0) as filler:
            for chunk in (1 << 20, 4096):
                try:
                    while True:
                        filler.write(b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
        assert os.statvfs(self.path).f_bavail == 0

    def free(self) -> None:
        (self.filler if self.mounted else self.flag).unlink()

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmallDisk]:
    disk = SmallDisk(tmp_path, monkeypatch)
    yield disk
    disk.unmount()


def emit(tracer, prefix: str, count: int) -> None:
    for n in range(count):
        with tracer.start_as_current_span("ChatFake.chat") as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute(
                "gen_ai.input.messages",
                json.dumps([{"role": "user", "parts": [{"type": "text", "content": f"{prefix} {n}"}]}]),
            )
            span.set_attribute(
                "gen_ai.output.messages",
                json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "ok"}]}]),
            )


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_full_disk_is_answered_503_and_unavailable_and_what_senders_retry_lands(
    label_studio, ls, small_disk, project_name
):
    proxy = LabelStudioProxy(label_studio.url)  # down at first: what is acknowledged waits in the spool
    side = sidecar.start(
        label_studio, small_disk.path, project_name, url=proxy.url, command=small_disk.command
    )
    providers = []
    processors = []
    for exporter in (
        HttpExporter(endpoint=side.traces_url, headers=side.auth(), timeout=60),
        GrpcExporter(endpoint=side.grpc_target, insecure=True, headers=side.auth(), timeout=60),
    ):
        provider = TracerProvider(resource=Resource.create({"service.name": "full-disk-app"}))
        processor = BatchSpanProcessor(exporter, schedule_delay_millis=200, max_export_batch_size=50)
        provider.add_span_processor(processor)
        providers.append(provider)
        processors.append(processor)
    http_tracer, grpc_tracer = (provider.get_tracer("spool-faults") for provider in providers)
    try:
        emit(http_tracer, "before http", 10)
        emit(grpc_tracer, "before grpc", 10)
        assert all(processor.force_flush(30_000) for processor in processors)
        assert metrics(side)["otel_label_studio_spool_records"] == 20

        small_disk.fill()
        # No span is sent yet: the warning comes from delivery, whose retry writes to the spool.
        wait_for(lambda: FULL_WARNING in side.logs(), "delivery to meet the full disk")
        proxy.up()  # Label Studio is back while the disk is still full
        emit(http_tracer, "while full http", 30)
        emit(grpc_tracer, "while full grpc", 30)

        def refused() -> bool:
            values = metrics(side)
            return (
                values.get(
                    'otel_label_studio_receiver_http_responses_total{http_response_status_code="503"}', 0
                )
                >= 1
                and values.get(
                    'otel_label_studio_receiver_grpc_responses_total{rpc_response_status_code="UNAVAILABLE"}',
                    0,
                )
                >= 1
            )

        wait_for(refused, "503 and UNAVAILABLE while the disk is full", timeout=30)
        time.sleep(3)  # the senders retry, delivery retries
        assert side.process.poll() is None
        assert metrics(side)["otel_label_studio_spool_records"] == 20  # nothing lost, nothing new
        assert side.logs().count(FULL_WARNING) == 1, "one warning for the episode, not one per request"
        assert FREE_AGAIN not in side.logs()

        small_disk.free()
        assert all(processor.force_flush(60_000) for processor in processors)
        tasks = wait_for_tasks(ls, project_name, 80, timeout=120)
        wait_until_drained(side)
        prompts = sorted(task.data["prompt"] for task in tasks)
        assert len(prompts) == len(set(prompts)) == 80  # each span once, none lost
        assert {p.rsplit(" ", 1)[0] for p in prompts} == {
            f"user: {when} {transport}" for when in ("before", "while full") for transport in ("http", "grpc")
        }
        values = metrics(side)
        assert not any(
            'http_response_status_code="500"' in name or 'rpc_response_status_code="INTERNAL"' in name
            for name in values
        )
        logs = side.logs()
        assert logs.count(FREE_AGAIN) == 1
        assert "Traceback" not in logs
        assert side.terminate() == 0
    finally:
        for provider in providers:
            provider.shutdown()
        side.terminate()
        proxy.close()


# --- the byte limit reached during an outage --------------------------------------------------------------


def test_the_byte_limit_recovers_without_a_restart_once_delivery_drained_the_spool(
    label_studio, ls, tmp_path, project_name
):
    proxy = LabelStudioProxy(label_studio.url)  # down: Label Studio refuses connections
    side = sidecar.start(
        label_studio, tmp_path / "data", project_name, url=proxy.url, args=["--spool-max-bytes", "1MiB"]
    )
    headers = {**PROTOBUF, **side.auth()}
    acknowledged: set[str] = set()
    try:
        for round_ in range(200):
            request = llm_spans([f"outage {round_}.{n} " + "words " * 400 for n in range(20)])
            answer = httpx.post(side.traces_url, content=request.SerializeToString(), headers=headers)
            if answer.status_code == 503:
                break
            assert answer.status_code == 200
            acknowledged |= span_ids(request)
        else:
            raise AssertionError("the spool never reached its byte limit")
        assert int(answer.headers["retry-after"]) >= 1
        assert len(acknowledged) >= 20

        proxy.up()  # Label Studio is back: delivery drains the spool
        wait_for_tasks(ls, project_name, len(acknowledged), timeout=120)
        wait_until_drained(side, timeout=120)
        after = llm_spans([f"after the outage {n} " + "words " * 400 for n in range(20)])
        answer = httpx.post(side.traces_url, content=after.SerializeToString(), headers=headers)
        assert answer.status_code == 200, "the spool refuses although delivery drained it"
        wait_for_tasks(ls, project_name, len(acknowledged) + 20)
        wait_until_drained(side)
        assert_exactly_once(ls, project_name, acknowledged | span_ids(after))
        assert side.process.poll() is None  # no restart
    finally:
        side.terminate()
        proxy.close()


# --- a damaged spool file ----------------------------------------------------------------------------------


def garbage(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def truncated(path: Path) -> None:
    spool = Spool(str(path))
    spool.add(
        [
            LLMRecord(
                f"{n:032x}", f"{n:016x}", "chat", "genai", [Message("user", f"q{n} " + "x" * 9000)], ["a"]
            )
            for n in range(40)
        ]
    )
    spool.close()
    os.truncate(path, path.stat().st_size // 2)


def assert_says_what_to_do(result: subprocess.CompletedProcess[str], path: Path, wrong: str) -> str:
    """Exit 2, no traceback, the file, what is wrong, and an mv command; the command."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert f"the spool file {path} is damaged: it {wrong}" in output
    (command,) = re.findall(r"mv \S+ \S+(?: && mv \S+ \S+)*", output)
    return command


@pytest.mark.parametrize(
    ("damage", "wrong"),
    [(garbage, "is not an SQLite database"), (truncated, "is corrupt")],
    ids=["garbage", "truncated"],
)
def test_serve_on_a_damaged_spool_exits_2_with_the_file_and_the_mv_that_moves_it_aside(
    label_studio, tmp_path, project_name, damage, wrong
):
    data_dir = tmp_path / f"data-{uuid.uuid4().hex[:6]}"
    data_dir.mkdir()
    path = data_dir / "spool.sqlite3"
    damage(path)
    side = sidecar.start(label_studio, data_dir, project_name, wait=False)
    side.process.wait(timeout=60)
    result = subprocess.CompletedProcess(side.command, side.process.returncode, side.logs(), "")
    command = assert_says_what_to_do(result, path, wrong)
    subprocess.run(command, shell=True, check=True)  # as an operator would paste it
    side.respawn()  # starts with an empty spool
    try:
        assert metrics(side)["otel_label_studio_spool_records"] == 0
    finally:
        side.terminate()


@pytest.mark.parametrize(
    ("damage", "wrong"),
    [(garbage, "is not an SQLite database"), (truncated, "is corrupt")],
    ids=["garbage", "truncated"],
)
def test_the_spool_commands_on_a_damaged_spool_exit_2_with_what_to_do(tmp_path, damage, wrong):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path = data_dir / "spool.sqlite3"
    damage(path)
    for action in (["stats"], ["dead-letters"], ["retry"], ["drain", "--no-progress"]):
        result = subprocess.run(
            [str(sidecar.SCRIPT), "spool", *action, "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "k"},
        )
        command = assert_says_what_to_do(result, path, wrong)
    subprocess.run(command, shell=True, check=True)
    assert not path.exists()
