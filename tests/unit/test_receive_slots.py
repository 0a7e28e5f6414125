"""gRPC's receive slots (``limits.ReceiveSlots``): a call that waits for a slot takes it from the call
that has held one longest without its message, once that one had it for the fair time (issue 26)."""

from __future__ import annotations

import threading

import pytest

from otel_label_studio.receiver.limits import Busy, ReceiveSlots


class Call:
    """A call in a thread that holds its receive slot until it is cancelled or told its message came."""

    def __init__(self, slots: ReceiveSlots):
        self.cancelled = threading.Event()
        self.arrived = threading.Event()
        self.holding = threading.Event()
        self.outcome: str | None = None
        self._thread = threading.Thread(target=self._run, args=(slots,), daemon=True)
        self._thread.start()

    def _run(self, slots: ReceiveSlots) -> None:
        try:
            with slots.receiving(self.cancelled.set) as received:
                self.holding.set()
                while not (self.cancelled.is_set() or self.arrived.is_set()):
                    self.cancelled.wait(0.01)
                if self.arrived.is_set():
                    received()
                    self.outcome = "received"
                else:
                    self.outcome = "cancelled"
        except Busy:
            self.outcome = "busy"

    def join(self) -> str | None:
        self._thread.join(5)
        return self.outcome


def test_a_waiting_call_takes_the_slot_of_the_call_that_held_it_longest_past_the_fair_time():
    slots = ReceiveSlots(2, wait_seconds=2.0, fair_seconds=0.05)
    first, second = Call(slots), Call(slots)
    assert first.holding.wait(5) and second.holding.wait(5)
    live = Call(slots)
    assert live.holding.wait(1.0)  # it did not wait for the stalled calls' 60 s
    assert first.cancelled.is_set() and not second.cancelled.is_set()  # the one that held it longest
    live.arrived.set()
    second.arrived.set()
    assert (first.join(), second.join(), live.join()) == ("cancelled", "received", "received")
    assert slots.preempted == 1 and slots.in_use == 0


def test_a_call_whose_message_came_keeps_its_slot_and_a_waiting_call_is_busy():
    slots = ReceiveSlots(1, wait_seconds=0.2, fair_seconds=0.01)
    taken = threading.Event()
    done = threading.Event()

    def decoding() -> None:  # its message is whole: it decodes, holding the slot, and is not cancelled
        with slots.receiving(lambda: pytest.fail("a call with its message was cancelled")) as received:
            received()
            taken.set()
            done.wait(5)

    holder = threading.Thread(target=decoding, daemon=True)
    holder.start()
    assert taken.wait(5)
    with pytest.raises(Busy) as busy:
        slots.acquire()
    assert "gRPC receive slots are busy" in str(busy.value)
    done.set()
    holder.join(5)
    assert slots.preempted == 0 and slots.refused == 1


def test_no_slot_is_taken_back_within_the_fair_time():
    slots = ReceiveSlots(1, wait_seconds=0.2, fair_seconds=60.0)
    stalled = Call(slots)
    assert stalled.holding.wait(5)
    with pytest.raises(Busy):
        slots.acquire()
    assert not stalled.cancelled.is_set()
    stalled.arrived.set()
    assert stalled.join() == "received"
