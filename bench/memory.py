"""Memory: serve's resident memory over sustained ingest with Label Studio down.

The spool on disk grows; memory must not. Sampled every half second; "flat" compares the
mean of the last fifth of the run with the mean of the second fifth (after warm-up).
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx

from bench.common import Serve, closed_port_url, request_bodies, rss_kib, settle
from bench.ingest import UNLIMITED

TARGET_PEAK_MB = 200.0


def run(workdir: Path, quick: bool) -> dict:
    seconds = 15.0 if quick else 60.0
    settle()
    serve = Serve(workdir, url=closed_port_url(), api_key="bench", args=UNLIMITED)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    sent = [0, 0]

    def sender(index: int) -> None:
        headers = {"Content-Type": "application/x-protobuf"}
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                for body in request_bodies(20, 100, 2048):  # fresh ids: a repeat would be deduplicated
                    if stop.is_set():
                        break
                    if client.post(serve.traces_url, content=body, headers=headers).status_code == 200:
                        sent[index] += 1

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(2)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    try:
        while time.perf_counter() - started < seconds:
            samples.append((time.perf_counter() - started, rss_kib(serve.process.pid)))
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        peak_kib = rss_kib(serve.process.pid, "VmHWM")
        spool_bytes = sum(path.stat().st_size for path in serve.data_dir.glob("spool.sqlite3*"))
        serve.stop()
        shutil.rmtree(serve.data_dir, ignore_errors=True)
    values = [kib for _, kib in samples]
    fifth = max(1, len(values) // 5)
    early = sum(values[fifth : 2 * fifth]) / fifth / 1024
    late = sum(values[-fifth:]) / fifth / 1024
    peak_mb = peak_kib / 1024
    return {
        "ingest_seconds": seconds,
        "spans_sent": sum(sent) * 100,
        "peak_rss_mb": round(peak_mb, 1),
        "rss_early_mb": round(early, 1),
        "rss_late_mb": round(late, 1),
        "spool_mb": round(spool_bytes / 1e6, 1),
        "target_peak_mb": TARGET_PEAK_MB,
        "met": peak_mb <= TARGET_PEAK_MB and late <= early * 1.15,
    }
