"""rotel, the native OTLP forwarder, started the same way by the tests (forwarding to serve) and
by the benchmarks (its blackhole exporter, the native reference)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Sequence

from tests.support.labelstudio_server import free_port

START_TIMEOUT_SECONDS = 20.0


def binary() -> Path | None:
    """The rotel-agent the ``rotel`` wheel ships, or None when it is not installed."""
    try:
        import rotel
    except ImportError:
        return None
    path = Path(rotel.__file__).parent / "rotel-agent"
    return path if path.exists() else None


def start(agent: Path, workdir: Path, exporter: Sequence[str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start rotel on free loopback ports with ``exporter`` (its --exporter... arguments); returns
    the process and its OTLP/HTTP port once that port accepts connections."""
    http_port, grpc_port = free_port(), free_port()
    log_path = workdir / "rotel.log"
    command = [
        str(agent),
        "start",
        "--otlp-http-endpoint",
        f"127.0.0.1:{http_port}",
        "--otlp-grpc-endpoint",
        f"127.0.0.1:{grpc_port}",
        *exporter,
        "--pid-file",
        str(workdir / "rotel.pid"),
        "--log-file",
        str(workdir / "rotel-agent.log"),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", http_port)) == 0:
                return process, http_port
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(timeout=10)
            raise RuntimeError(f"rotel did not listen on {http_port}:\n{log_path.read_text()}")
        time.sleep(0.1)
