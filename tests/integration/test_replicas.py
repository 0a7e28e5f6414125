"""Many replicas, one truth: two ``serve`` replicas on one shared review state (``--state-url``, a real
PostgreSQL on loopback) in front of the real Label Studio, traces split between them by trace id as the
Collector's ``loadbalancing`` exporter does, one replica killed with SIGKILL mid-stream and restarted:
``limit: 30/day`` makes exactly 30 tasks, and every span the limit admitted has its task.

Each replica's sender is the loadbalancing exporter's sub-exporter for that replica: it sends its
traces in order and retries a request that got no answer (the replica down, or 503 / Retry-After)
until it is acknowledged, as ``retry_on_failure`` does."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import psycopg
import pytest

from tests.support import otlp_requests, serve_calls, sidecar
from tests.support.label_studio_reads import project_by_title, tasks_of

pytestmark = pytest.mark.integration

TRACES = 160
PER_REQUEST = 4
LIMIT = 30
RULES = f"rules:\n  - name: capped\n    limit: {LIMIT}/day\n"


def requests_for(replica: int, replicas: int) -> list[bytes]:
    """The replica's share of the stream: the traces whose id hashes to it, PER_REQUEST a request."""
    mine = []
    for n in range(TRACES):
        trace_id = uuid.uuid5(uuid.NAMESPACE_OID, f"trace-{n}").hex
        if int(trace_id, 16) % replicas == replica:
            mine.append(otlp_requests.llm_request(trace_id=trace_id, span_id=trace_id[:16], question=f"q{n}"))
    batches = []
    for start in range(0, len(mine), PER_REQUEST):
        request = mine[start]
        for other in mine[start + 1 : start + PER_REQUEST]:
            request.resource_spans.extend(other.resource_spans)
        batches.append(request.SerializeToString())
    return batches


def send_all(replica: sidecar.Sidecar, bodies: list[bytes], sent: list[int], deadline: float) -> None:
    """Send each body until it is acknowledged (200), in order, retrying what got no answer."""
    headers = {**otlp_requests.PROTOBUF, **replica.auth()}
    with httpx.Client(timeout=10) as client:
        for body in bodies:
            while time.monotonic() < deadline:
                try:
                    if client.post(replica.traces_url, content=body, headers=headers).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass  # the replica is down: retry, as retry_on_failure does
                time.sleep(0.2)
            else:
                raise AssertionError("a request was never acknowledged")
            sent.append(1)
            time.sleep(0.05)  # a stream, not a burst: the kill lands mid-stream


def test_two_replicas_at_a_limit_of_30_make_30_tasks_across_a_kill(
    label_studio, ls, tmp_path, project_name, state_url
):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    args = ["--review-rules", str(rules), "--state-url", state_url]
    replicas = [
        sidecar.start(label_studio, tmp_path / f"replica-{i}", project_name, args=args) for i in range(2)
    ]
    sent: list[list[int]] = [[], []]
    deadline = time.monotonic() + 120
    senders = [
        threading.Thread(target=send_all, args=(replicas[i], requests_for(i, 2), sent[i], deadline))
        for i in range(2)
    ]
    try:
        for thread in senders:
            thread.start()
        while len(sent[1]) < 5:  # mid-stream: replica 1 has acknowledged 5 requests
            assert time.monotonic() < deadline and senders[1].is_alive(), "replica 1 took no request"
            time.sleep(0.02)
        replicas[1].kill()  # SIGKILL: no drain, no cleanup
        time.sleep(1.0)
        replicas[1].respawn()
        for thread in senders:
            thread.join(timeout=150)
        assert all(len(sent[i]) == len(requests_for(i, 2)) for i in range(2))
        for replica in replicas:
            serve_calls.wait_until_drained(replica)
        tasks = tasks_of(ls, project_name)
        spans = [task.data["span_id"] for task in tasks]
        assert len(spans) == len(set(spans)), "a span became more than one task"
        assert len(tasks) == LIMIT  # not 2 x 30: one limit for both replicas
        with psycopg.connect(state_url) as db:
            admitted = {row[0] for row in db.execute("SELECT span_id FROM ols_review_admissions")}
            used = db.execute("SELECT used FROM ols_review_counts").fetchone()
        assert used == (LIMIT,)
        assert admitted == set(spans)  # none lost that the limit admitted
        assert project_by_title(ls, project_name) is not None
    finally:
        for replica in replicas:
            replica.kill()
