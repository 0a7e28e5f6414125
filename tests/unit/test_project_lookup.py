"""A project lookup by title asks Label Studio once when one page holds the answer: label-studio-sdk's
pager asks for the page after the last (a 404) unless told to stop, which cost every lookup a
second request (and the first batch of a new exporter its time)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from otel_label_studio.delivery.labelstudio import TITLE_PAGE, LabelStudioClient

LEGACY_TOKEN = "0" * 40


class ProjectPages:
    """Label Studio's ``GET /api/projects/``, paged, over ``count`` projects titled ``title``."""

    def __init__(self, title: str, count: int):
        self.projects = [{"id": n + 1, "title": title, "label_config": "<View/>"} for n in range(count)]
        self.pages_asked: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
                query = parse_qs(urlparse(self.path).query)
                page, size = int(query["page"][0]), int(query["page_size"][0])
                server.pages_asked.append(page)
                results = server.projects[(page - 1) * size : page * size]
                if not results and page > 1:
                    self.send_response(404)
                    body = b'{"detail": "Invalid page."}'
                else:
                    self.send_response(200)
                    body = json.dumps({"count": len(server.projects), "results": results}).encode()
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.mark.parametrize(("count", "pages"), [(1, [1]), (TITLE_PAGE + 1, [1, 2])])
def test_a_title_lookup_asks_for_no_page_past_the_last(count: int, pages: list[int]) -> None:
    label_studio = ProjectPages("Support", count)
    client = LabelStudioClient(label_studio.url, LEGACY_TOKEN, timeout=5)
    try:
        found = client.projects_titled("Support")
    finally:
        client.close()
        label_studio.close()
    assert [project.id for project in found] == list(range(1, count + 1))
    assert label_studio.pages_asked == pages
