"""How the WordPress adapter reads a site that does not answer like WordPress (no server
needed: a local stand-in answers every request with one status)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from publisher.base import PublishError
from publisher.wordpress import WordPressAdapter


@pytest.fixture
def answering() -> Iterator[dict[str, Any]]:
    """A site answering every GET with `site["status"]` and a small HTML page."""
    site: dict[str, Any] = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = b"<html><body>Situs Dinas</body></html>"
            self.send_response(site["status"])
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    site["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield site
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_server_error_is_reported_as_one_and_retried(answering: dict[str, Any]) -> None:
    answering["status"] = 500
    with pytest.raises(PublishError) as failure:
        WordPressAdapter(answering["url"], "webmaster", "pass word").check()
    assert failure.value.retryable and not failure.value.config_problem
    assert "HTTP 500" in failure.value.reason
    assert "no WordPress REST API" not in failure.value.reason


@pytest.mark.parametrize("status", [200, 404])
def test_a_site_without_the_rest_api_is_a_setting_to_fix(answering: dict[str, Any],
                                                         status: int) -> None:
    answering["status"] = status
    with pytest.raises(PublishError) as failure:
        WordPressAdapter(answering["url"], "webmaster", "pass word").check()
    assert failure.value.config_problem and not failure.value.retryable
    assert "no WordPress REST API" in failure.value.reason
