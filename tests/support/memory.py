"""A child process's memory as Linux counts it (/proc/<pid>/status), and a watchdog that stops a
child before it takes the machine's memory (what a file read without a bound would do)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Callable

MIB = 1024


def status_kib(pid: int, field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (the high-water mark since start or ``reset_peak``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def peak_kib(pid: int) -> int:
    return status_kib(pid, "VmHWM")


def rss_kib(pid: int) -> int:
    return status_kib(pid, "VmRSS")


def reset_peak(pid: int) -> None:
    """Start the high-water mark again from the resident memory now (Linux 4.0+)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class Grew(AssertionError):
    """The child passed the memory it was allowed, and was killed."""


def watch(
    process: subprocess.Popen[bytes],
    *,
    max_rss_kib: int,
    timeout: float,
    until: Callable[[], bool] | None = None,
) -> int | None:
    """Poll every 50 ms until the child exits (its status) or ``until()`` holds (None); kill it and
    raise ``Grew`` as soon as its resident memory passes ``max_rss_kib``, ``TimeoutError`` (child
    killed) when neither happens within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            return code
        try:
            rss = rss_kib(process.pid)
        except (FileNotFoundError, AssertionError):  # exited between the poll and the read
            continue
        if rss > max_rss_kib:
            process.kill()
            process.wait(10)
            raise Grew(f"process {process.pid} grew to {rss // MIB} MiB (allowed {max_rss_kib // MIB} MiB)")
        if until is not None and until():
            return None
        time.sleep(0.05)
    process.kill()
    process.wait(10)
    raise TimeoutError(f"process {process.pid} neither exited nor got there in {timeout:g}s: killed")
