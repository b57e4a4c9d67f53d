"""A round-robin reverse proxy on loopback: one webhook URL in front of several bot processes,
as a load balancer would put them behind one address."""

from __future__ import annotations

import itertools
import json
import socket
from collections import Counter

import aiohttp
from aiohttp import web

# Headers that describe one hop, not the request (RFC 9110 section 7.6.1).
HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "host",
                         "content-length", "upgrade", "te", "trailer"})


class RoundRobinProxy:
    """Forwards each request to the next of `backends` in turn; a backend that cannot be
    reached answers 502 (Telegram then delivers the update again)."""

    def __init__(self, backends: list[str] | None = None) -> None:
        self.backends = list(backends or [])
        self.url = ""
        #: Requests forwarded to each backend.
        self.forwarded: Counter[str] = Counter()
        #: (update_id, backend) of each Telegram update the backend acknowledged.
        self.routes: list[tuple[int, str]] = []
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        host, port = sock.getsockname()[:2]
        self._session = aiohttp.ClientSession()
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> RoundRobinProxy:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _forward(self, request: web.Request) -> web.Response:
        if not self.backends or self._session is None:
            return web.Response(status=502, text="no backend")
        backend = self.backends[next(self._turn) % len(self.backends)]
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() not in HOP_HEADERS}
        sent = await request.read()
        try:
            async with self._session.request(request.method, backend + request.rel_url.path_qs,
                                             data=sent, headers=headers) as answer:
                body = await answer.read()
        except aiohttp.ClientError as error:
            return web.Response(status=502, text=f"backend unreachable: {error}")
        self.forwarded[backend] += 1
        if 200 <= answer.status < 300:
            self._note_route(sent, backend)
        return web.Response(status=answer.status, body=body, content_type=answer.content_type)

    def _note_route(self, sent: bytes, backend: str) -> None:
        try:
            update_id = json.loads(sent).get("update_id")
        except (ValueError, AttributeError):
            return
        if isinstance(update_id, int):
            self.routes.append((update_id, backend))
