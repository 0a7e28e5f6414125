"""A real OTLP/HTTP logs endpoint on loopback that keeps what it gets (human scores sent back by serve)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.support.labelstudio_server import free_port


class LogsReceiver:
    """An OTLP/HTTP logs endpoint that keeps every request it gets; a POST to any other path is kept
    as it came (``posts``: path, headers, body), e.g. a Label Studio webhook pointed here."""

    def __init__(self, port: int | None = None) -> None:
        self.requests: list[ExportLogsServiceRequest] = []
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/logs":
                    receiver.requests.append(ExportLogsServiceRequest.FromString(body))
                else:
                    receiver.posts.append((self.path, dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", port or free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def records(self):
        return [
            r
            for req in self.requests
            for rl in req.resource_logs
            for sl in rl.scope_logs
            for r in sl.log_records
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
