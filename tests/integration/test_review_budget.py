"""The review budget in a real ``serve`` against the real Label Studio, with real LangChain calls.

40 instrumented LangChain calls (fake models, the real instrumentation), a third of them with two
judges that disagree (``gen_ai.evaluation.result`` span events), go through a rules file with a
budget of 720 an hour in windows of 20 s: a window spends at most twice its even share (8), so at
most 8 tasks, each with ``meta.review.reason`` and ``meta.review.weight``, the disagreed-on first.
serve is killed (SIGKILL) while the records wait for their window and started again: the window is
decided after the restart, nothing lost (the tasks are what the ledger spent), nothing twice.
"""

from __future__ import annotations

import sqlite3
import time

import httpx
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from tests.support import sidecar
from tests.support.label_studio_reads import wait_for_tasks

NAME, LABEL = "gen_ai.evaluation.name", "gen_ai.evaluation.score.label"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
CALLS = 40
MOST = 8  # ceil(2 * 720 / 180): twice a 20 s window's even share of 720 an hour
RULES = """\
rules:
  - name: everything
budget: 720/hour
budget_window: 20s
explore: 25%
priority: [disagreement, rules]
"""


def make_requests(captured) -> tuple[bytes, set[str]]:
    """One OTLP request of the calls; the trace ids of those whose judges disagree."""
    disagreed = set()
    for i in range(CALLS):
        before = len(captured.get_finished_spans())
        FakeListChatModel(responses=[f"Answer {i}."]).invoke([HumanMessage(content=f"Question {i}?")])
        spans = captured.get_finished_spans()[before:]
        assert spans, f"call {i} made no span"
        if i % 3 == 0:
            disagreed.add(format(spans[0].context.trace_id, "032x"))
    request = encode_spans(captured.get_finished_spans())
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if span.trace_id.hex() in disagreed:
                    for name, label in (("helpfulness", "good"), ("faithfulness", "bad")):
                        event = span.events.add()
                        event.name = "gen_ai.evaluation.result"
                        event.time_unix_nano = span.end_time_unix_nano
                        for key, value in ((NAME, name), (LABEL, label)):
                            attribute = event.attributes.add()
                            attribute.key = key
                            attribute.value.string_value = value
    return request.SerializeToString(), disagreed


def waiting_rows(data_dir) -> int:
    db = sqlite3.connect(str(data_dir / "spool.sqlite3"))
    try:
        return db.execute("SELECT count(*) FROM budget_waiting").fetchone()[0]
    finally:
        db.close()


def spent(data_dir) -> int:
    db = sqlite3.connect(str(data_dir / "review-state.sqlite3"))
    try:
        return sum(row[0] for row in db.execute("SELECT total FROM budget_spent"))
    finally:
        db.close()


def test_serve_spends_the_budget_by_window_with_the_reason_and_survives_a_kill(
    captured, label_studio, ls, tmp_path, project_name
):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    body, disagreed = make_requests(captured)
    data_dir = tmp_path / "data"
    side = sidecar.start(label_studio, data_dir, project_name, args=["--review-rules", str(rules)])
    try:
        response = httpx.post(side.traces_url, content=body, headers={**PROTOBUF, **side.auth()})
        assert response.status_code == 200, response.text
        assert waiting_rows(data_dir) > 0  # committed before the 200: the records wait for their window
        side.kill()  # SIGKILL while they wait
        side.respawn()  # same data directory: the spool and the review state
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and waiting_rows(data_dir):  # decided at the window's end
            time.sleep(0.5)
        assert waiting_rows(data_dir) == 0, side.logs()[-3000:]
        tasks = wait_for_tasks(ls, project_name, spent(data_dir))
        trace_ids = [t.data["trace_id"] for t in tasks]
        assert 0 < len(tasks) <= MOST
        assert len(set(trace_ids)) == len(trace_ids)  # nothing twice
        assert len(tasks) == spent(data_dir)  # nothing lost: every pick the ledger spent is a task
        for task in tasks:
            review = task.meta["review"]
            assert review["reason"] in {"explore", "disagreement", "everything"} and review["weight"] >= 1
        exploit = [t for t in tasks if t.meta["review"]["reason"] != "explore"]
        assert exploit  # 14 disagreed-on calls, more than a window's room: every one of its picks is one
        assert all(t.meta["review"]["reason"] == "disagreement" for t in exploit)
        assert all(t.data["trace_id"] in disagreed for t in exploit)
    finally:
        assert side.terminate() == 0
