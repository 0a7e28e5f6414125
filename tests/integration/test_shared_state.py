"""The review state shared by replicas (``--state-url``), against a real PostgreSQL (Debian's server,
started on loopback by the session: tests/support/postgres.py): admissions atomic across replicas,
idempotent per span, folding across replicas, and what an unreachable server means (fail closed, one
log line per outage with the password masked, the counts /metrics shows)."""

from __future__ import annotations

import logging
import textwrap
import threading
from urllib.parse import urlsplit

import pytest

from otel_label_studio.reading.record import LLMRecord, Message
from otel_label_studio.rules import KEPT, ReviewGate, parse
from otel_label_studio.rules.shared_state import PostgresReviewState
from otel_label_studio.store.shared import SharedState, StateUnavailable
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

NOON = 1_796_040_000.0  # 2026-11-30 12:00:00 UTC
LIMIT_30 = "rules:\n  - name: all\n    limit: 30/day\nfold_duplicates: 1h\n"


def gate_on(url: str, rules: str = LIMIT_30) -> ReviewGate:
    """A replica's gate: its own connection to the shared state."""
    state = PostgresReviewState(SharedState(url), clock=lambda: NOON)
    rule_set = parse(textwrap.dedent(rules))
    return ReviewGate(rule_set, state, metadata_prefix="p", default_project="Reviews", clock=lambda: NOON)


def record(n: int, prompt: str | None = None) -> LLMRecord:
    messages = [Message("user", prompt or f"q{n}")]
    return LLMRecord(f"{n:032x}", f"{n:016x}", "chat", "genai", messages, [f"a{n}"])


def offer(gate: ReviewGate, rec: LLMRecord) -> bool:
    from otel_label_studio.rules.gate import Decision

    return gate.admit(Decision(True, "all", None, KEPT, "Reviews", False, NOON), rec)


def test_replicas_racing_at_a_limit_of_30_admit_exactly_30(state_url):
    replicas = [gate_on(state_url) for _ in range(4)]
    admitted: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def send(gate: ReviewGate, first: int) -> None:
        start.wait()
        for n in range(first, first + 25):
            if offer(gate, record(n)):
                with lock:
                    admitted.append(n)

    threads = [threading.Thread(target=send, args=(replicas[i % 4], i * 1000)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 30  # 200 offered by 8 threads of 4 replicas
    assert sum(gate.counts().rules["all"].kept for gate in replicas) == 30
    assert replicas[0].state.count("all", "Reviews", "2026-11-30") == 30
    for gate in replicas:
        gate.close()
        gate.state.shared.close()  # type: ignore[attr-defined]


def test_a_retried_span_is_admitted_once_and_a_revoked_one_gives_its_place_back(state_url):
    one, two = (
        gate_on(state_url, "rules:\n  - name: all\n    limit: 2/day\n"),
        gate_on(state_url, "rules:\n  - name: all\n    limit: 2/day\n"),
    )
    assert offer(one, record(1))
    assert offer(two, record(1))  # the sender's retry, at the other replica: admitted, not counted again
    assert offer(two, record(2))
    assert not offer(one, record(3))  # the limit: 2
    from otel_label_studio.rules.gate import Decision

    one.revoke([(Decision(True, "all", None, KEPT, "Reviews", False, NOON), record(2))])
    assert offer(one, record(3))  # the place record 2 took is free again
    assert one.state.count("all", "Reviews", "2026-11-30") == 2
    for gate in (one, two):
        gate.close()


def test_a_repeat_is_folded_whichever_replica_sees_it(state_url):
    one, two = gate_on(state_url), gate_on(state_url)
    assert offer(one, record(1, "same prompt"))
    assert offer(two, record(2, "same prompt"))  # another answer: another task
    repeat = LLMRecord("f" * 32, "e" * 16, "chat", "genai", [Message("user", "same prompt")], ["a1"])
    assert not offer(two, repeat)  # replica one's task again (prompt and answer): folded
    assert offer(one, record(1, "same prompt"))  # replica one's own record, retried: not a repeat of itself
    two.commit()
    assert (two.counts().rules["all"].folded, two.counts().rules["all"].kept) == (1, 1)
    assert one.state.folded_by_project() == {"Reviews": 1}
    assert gate_on(state_url).state.count("all", "Reviews", "2026-11-30") == 2  # a copy may lag: fresh
    for gate in (one, two):
        gate.close()


def test_an_unreachable_state_refuses_with_a_retry_logs_once_and_recovers(state_url, caplog):
    parts = urlsplit(state_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxy.up()
    url = state_url.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
    gate = gate_on(url)
    shared = gate.state.shared  # type: ignore[attr-defined]
    assert offer(gate, record(1))
    proxy.down()
    caplog.set_level(logging.WARNING, logger="otel_label_studio.store.shared")
    for n in range(2, 6):
        with pytest.raises(StateUnavailable) as refused:
            offer(gate, record(n))
        assert refused.value.retry_after > 0
    assert shared.unavailable and shared.outages == 1 and shared.failures >= 4
    lines = [r.getMessage() for r in caplog.records if r.name == "otel_label_studio.store.shared"]
    assert len(lines) == 1 and "cannot be reached" in lines[0] and "fail closed" in lines[0]
    assert parts.password and parts.password not in lines[0] and ":***@" in lines[0]
    proxy.up()
    shared._channels[0]._next_try = 0.0  # no second's wait for the next attempt
    assert offer(gate, record(6))
    assert not shared.unavailable and shared.outages == 1
    assert gate.state.count("all", "Reviews", "2026-11-30") == 2  # the refused ones counted nothing
    gate.close()
    shared.close()
    proxy.down()
