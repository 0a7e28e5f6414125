"""The SpanExporter contract, without a Label Studio: the app is never harmed."""

import logging
import socket
import threading
import time
from importlib.metadata import entry_points
from types import SimpleNamespace

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.store.spool import Spool
from tests.support import fixtures


class CountingListener:
    """A TCP port that counts the connections made to it and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent_server():
    listener = CountingListener()
    yield listener
    listener.close()


def test_constructible_with_no_arguments(monkeypatch):
    for name in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "LABEL_STUDIO_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    exporter = LabelStudioSpanExporter()
    assert exporter.settings.url == "http://localhost:8080"
    exporter.shutdown()


def test_registered_as_an_opentelemetry_traces_exporter():
    (entry,) = [e for e in entry_points(group="opentelemetry_traces_exporter") if e.name == "label_studio"]
    assert entry.load() is LabelStudioSpanExporter


def test_constructor_does_no_network_io(silent_server):
    LabelStudioSpanExporter(url=f"http://127.0.0.1:{silent_server.port}", api_key="k", project_name="p")
    time.sleep(0.2)
    assert silent_server.accepted == []


def test_invalid_config_raises_at_construction():
    with pytest.raises(ValueError, match="project_config: .*no <TextArea>"):
        LabelStudioSpanExporter(api_key="k", project_config='<View><Text name="p" value="$p"/></View>')


def closed_port() -> int:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_label_studio_down_never_blocks_the_app_and_logs_once(caplog):
    exporter = LabelStudioSpanExporter(
        url=f"http://127.0.0.1:{closed_port()}", api_key="secret-key-123", project_name="p", timeout=2
    )
    caplog.set_level(logging.DEBUG, logger="otel_label_studio")
    names = ("completion", "n2", "stream", "chat_system_human", "multi_turn")
    started = time.monotonic()
    results = [exporter.export(fixtures.load("legacy", name)) for name in names]
    assert time.monotonic() - started < 1  # queued, not delivered, while the app waits
    assert results == [SpanExportResult.SUCCESS] * 5
    assert not exporter.force_flush(2_000)
    assert exporter.counts["waiting"] == 5
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "tasks for project p wait in memory" in errors[0].getMessage()
    exporter.shutdown()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and "5 records were not delivered to Label Studio before shutdown" in errors[1]
    assert "secret-key-123" not in caplog.text


def test_the_same_span_exported_twice_is_queued_once():
    exporter = LabelStudioSpanExporter(url=f"http://127.0.0.1:{closed_port()}", api_key="k", timeout=1)
    for _ in range(3):
        exporter.export(fixtures.load("legacy", "completion"))
    assert (exporter.counts["waiting"], exporter.counts["duplicates"]) == (1, 2)
    exporter.shutdown()


def test_a_full_queue_drops_and_counts_instead_of_blocking(caplog):
    exporter = LabelStudioSpanExporter(
        url=f"http://127.0.0.1:{closed_port()}", api_key="k", timeout=1, max_queue_size=2
    )
    assert exporter.export(fixtures.load("legacy", "completion")) == SpanExportResult.SUCCESS
    assert exporter.export(fixtures.load("legacy", "n2")) == SpanExportResult.SUCCESS
    assert exporter.export(fixtures.load("legacy", "stream")) == SpanExportResult.FAILURE
    assert (exporter.counts["waiting"], exporter.counts["dropped"]) == (2, 1)
    assert "queue is full" in caplog.text and "spool_path" in caplog.text
    exporter.shutdown()
    assert "1 records were dropped while the queue was full" in caplog.text


def test_with_a_spool_path_undelivered_records_survive_the_process(tmp_path, caplog):
    path = str(tmp_path / "spool.sqlite3")
    first = LabelStudioSpanExporter(
        url=f"http://127.0.0.1:{closed_port()}", api_key="k", timeout=1, spool_path=path
    )
    first.export(fixtures.load("legacy", "completion"))
    first.shutdown()
    assert f"1 record not yet delivered to Label Studio stays in the spool {path}" in caplog.text
    reopened = Spool(path)
    (item,) = reopened.take(10)
    assert item.record.outputs == ["Why did the chicken cross the road?"]
    reopened.close()


def test_a_server_that_never_answers_is_bounded_by_the_timeout(silent_server):
    exporter = LabelStudioSpanExporter(
        url=f"http://127.0.0.1:{silent_server.port}", api_key="k", project_name="p", timeout=1.0
    )
    started = time.monotonic()
    assert exporter.export(fixtures.load("legacy", "completion")) == SpanExportResult.SUCCESS
    assert time.monotonic() - started < 0.5
    time.sleep(0.2)  # delivery is now waiting on the silent server
    exporter.shutdown()
    assert time.monotonic() - started < 4


def test_non_llm_spans_need_no_label_studio():
    exporter = LabelStudioSpanExporter(url="http://127.0.0.1:9", api_key="k")
    workflow_only = [s for s in fixtures.load("legacy", "chain") if "llm.request.type" not in s.attributes]
    assert len(workflow_only) == 3
    assert exporter.export(workflow_only) == SpanExportResult.SUCCESS
    assert exporter.counts["spans"] == 3 and exporter.counts["llm_spans"] == 0


def test_shutdown_is_idempotent_and_export_after_it_fails(caplog):
    exporter = LabelStudioSpanExporter(url="http://127.0.0.1:9", api_key="k")
    exporter.shutdown()
    exporter.shutdown()
    assert exporter.export([]) == SpanExportResult.FAILURE
    assert "already shutdown" in caplog.text
    assert exporter.force_flush(10) is True


def test_export_never_raises(monkeypatch):
    exporter = LabelStudioSpanExporter(url="http://127.0.0.1:9", api_key="k")

    def broken(_records):
        raise RuntimeError("bug")

    monkeypatch.setattr(exporter._queue, "add", broken)
    assert exporter.export(fixtures.load("legacy", "completion")) == SpanExportResult.FAILURE


def test_force_flush_and_shutdown_are_woken_by_delivery_not_a_polling_loop(monkeypatch):
    import otel_label_studio.exporter as module

    def no_polling(seconds):
        raise AssertionError(f"polled: slept {seconds} s")

    monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=time.monotonic, sleep=no_polling))
    exporter = LabelStudioSpanExporter(url=f"http://127.0.0.1:{closed_port()}", api_key="k", timeout=1)
    exporter.export(fixtures.load("legacy", "completion"))
    assert not exporter.force_flush(300)  # Label Studio is down: the time runs out
    started = time.monotonic()
    exporter.shutdown()
    assert time.monotonic() - started < 5  # drained for its 1 s timeout, then gave up
    assert exporter.counts["waiting"] == 1


def refuse_new_threads(monkeypatch):
    """What Python 3.12 does once interpreter shutdown began (where the SDK's last batch comes from
    its atexit handler): every new thread is refused."""

    def refused(self):
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refused)


def test_at_interpreter_shutdown_export_and_shutdown_deliver_in_the_callers_thread(monkeypatch, caplog):
    exporter = LabelStudioSpanExporter(url=f"http://127.0.0.1:{closed_port()}", api_key="k", timeout=1)
    spans = fixtures.load("legacy", "completion")
    refuse_new_threads(monkeypatch)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert exporter.counts["waiting"] == 1  # kept, not lost with the thread that could not start
    assert exporter.force_flush(300) is False  # tried here, in this thread: Label Studio is down
    exporter.shutdown()  # no "cannot join thread before it is started"
    assert "1 record was not delivered to Label Studio before shutdown" in caplog.text
    assert "Traceback" not in caplog.text and "Unexpected error" not in caplog.text


def test_shutdown_and_force_flush_never_raise(monkeypatch, caplog):
    exporter = LabelStudioSpanExporter(url="http://127.0.0.1:9", api_key="k")
    exporter.export(fixtures.load("legacy", "completion"))

    def broken(*_args, **_kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(exporter._worker, "wait_until_empty", broken)
    monkeypatch.setattr(exporter._worker, "stop", broken)
    assert exporter.force_flush(100) is False
    exporter.shutdown()
    assert caplog.text.count("RuntimeError: bug") == 2
