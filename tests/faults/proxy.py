"""A reverse proxy in front of the website that fails on demand."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FlakyProxy:
    """A reverse proxy in front of the website whose behaviour can be switched live.

    Modes: "pass" (forward), "error" (answer `status`, 500 by default), "hang" (hold the
    request `hang_seconds`, then drop the connection: the client's timeout fires first),
    "drop" (close the connection without an answer, like a site that is down).
    A request whose upstream cannot be reached is dropped too.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode = "pass"
        self.status = 500
        self.hang_seconds = 5.0
        self.counts: Counter[str] = Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                mode = proxy.mode
                proxy.counts[mode] += 1
                if mode == "error":
                    payload = json.dumps({"code": "injected", "message": "injected"}).encode()
                    self.send_response(proxy.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if mode == "hang":
                    time.sleep(proxy.hang_seconds)
                    self.close_connection = True
                    return
                if mode == "drop":
                    self.close_connection = True
                    return
                try:
                    status, headers, answer = proxy._forward(
                        self.command, self.path, dict(self.headers), body)
                except OSError:
                    proxy.counts["unreachable"] += 1
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("transfer-encoding", "connection",
                                            "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _forward(self, method: str, path: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        host = self.upstream.split("//", 1)[1]
        connection = http.client.HTTPConnection(host, timeout=120)
        try:
            headers = {k: v for k, v in headers.items() if k.lower() != "host"}
            headers["Host"] = host
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def __enter__(self) -> FlakyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
