"""Where the receiver's time goes: the ingest hot path in one process, under a sampling profiler.

The same steps a request takes in serve (parse, span views, mapping, spool), repeated,
profiled with pyinstrument; the report keeps the functions with the most time.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import request_bodies, settle
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.spanview import from_otlp
from otel_label_studio.receiver.otlp import PROTOBUF, parse_request
from otel_label_studio.store.spool import Spool


def _steps(workdir: Path, bodies: list[bytes]) -> dict[str, float]:
    spool = Spool(str(workdir / "profile.sqlite3"), max_rows=10**9, max_bytes=1 << 40)
    mapper = Mapper(metadata_prefix="traceloop.association.properties", include_errors=False)
    spent = {"parse": 0.0, "views + mapping": 0.0, "spool (pickle + commit)": 0.0}
    for body in bodies:
        t0 = time.perf_counter()
        request = parse_request(body, PROTOBUF)
        t1 = time.perf_counter()
        result = mapper.map(from_otlp(request))
        t2 = time.perf_counter()
        spool.add(result.records)
        t3 = time.perf_counter()
        spent["parse"] += t1 - t0
        spent["views + mapping"] += t2 - t1
        spent["spool (pickle + commit)"] += t3 - t2
    spool.close()
    return spent


def run(workdir: Path, quick: bool) -> dict:
    settle()  # after the memory run's gigabytes of spool: measure CPU, not its writeback
    bodies = request_bodies(30 if quick else 100, 100, 2048)
    spent = _steps(workdir, bodies)
    total = sum(spent.values())
    spans = len(bodies) * 100
    report = ""
    try:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
        _steps(workdir, request_bodies(len(bodies), 100, 2048))
        profiler.stop()
        report = profiler.output_text(unicode=False, color=False, show_all=False)
    except ImportError:
        report = "(pyinstrument not installed: pip install pyinstrument)"
    return {
        "spans": spans,
        "in_process_spans_per_s": round(spans / total),
        "share": {step: round(seconds / total, 3) for step, seconds in spent.items()},
        "us_per_span": {step: round(seconds / spans * 1e6, 1) for step, seconds in spent.items()},
        "profile": "\n".join(report.splitlines()[:60]),
    }
