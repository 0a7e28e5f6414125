"""Delivery in the foreground, with a progress bar: replay and ``spool drain``."""

from __future__ import annotations

import time

from ..bridge import Bridge
from ..store.queue import RecordQueue

STALL_SECONDS = 60.0  # foreground delivery gives up after this long without progress


def deliver_in_foreground(bridge: Bridge, queue: RecordQueue, total: int, desc: str, progress: bool) -> int:
    """Run the delivery worker with a progress bar until the queue is empty, the key is refused, or
    nothing moved for STALL_SECONDS; how many records were left."""
    from tqdm import tqdm  # start-up time: loaded only when this command runs

    stats = bridge.worker.stats
    bar = tqdm(total=total, unit="task", disable=not progress, desc=desc)
    bridge.worker.start()
    done, moved_at = 0, time.monotonic()
    while queue.depth and not bridge.worker.key_refused and time.monotonic() - moved_at < STALL_SECONDS:
        time.sleep(0.2)
        finished = stats.tasks_created + stats.dead_lettered + stats.already_present
        if finished != done:
            bar.update(finished - done)
            done, moved_at = finished, time.monotonic()
    bar.update(stats.tasks_created + stats.dead_lettered + stats.already_present - done)
    bar.close()
    bridge.worker.stop(0)
    left = queue.depth
    queue.close()
    bridge.client.close()
    if bridge.worker.key_refused:
        print("Label Studio refused the API key: run `otel-label-studio doctor` to see why")
    elif left:
        print(f"Delivery made no progress for {STALL_SECONDS:.0f}s ({bridge.worker.paused_reason}): stopped")
    return left
