"""A small website that accepts Warta's webhook: for the demo and for trying the adapter.

It checks the signature, is idempotent by `Idempotency-Key` as the webhook contract asks,
keeps the posts in memory and serves each at /berita/<key> as escaped HTML.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from publisher.webhook import SIGNATURE_HEADER, verify_signature


@dataclass
class Receiver:
    secret: str
    host: str = "127.0.0.1"
    # Each post's "payload" is what json.loads made of the request body, hence Any.
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> Receiver:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.add_routes([web.post("/hook", self._publish), web.get("/hook", self._lookup),
                        web.get("/berita/{key}", self._page)])
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = int(self._runner.addresses[0][1])  # (host, port) of the site just started
        self.url = f"http://{self.host}:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hook"

    async def _publish(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_signature(self.secret, body, request.headers.get(SIGNATURE_HEADER)):
            return web.json_response({"error": "bad signature"}, status=401)
        key = request.headers.get("Idempotency-Key", "")
        if key not in self.posts:
            payload = json.loads(body)
            self.posts[key] = {"id": str(len(self.posts) + 1),
                               "url": f"{self.url}/berita/{key}", "payload": payload}
        post = self.posts[key]
        return web.json_response({"id": post["id"], "url": post["url"]}, status=201)

    async def _lookup(self, request: web.Request) -> web.Response:
        key = request.query.get("key", "")
        if not verify_signature(self.secret, key.encode(), request.headers.get(SIGNATURE_HEADER)):
            return web.json_response({"error": "bad signature"}, status=401)
        if not key:
            return web.json_response({"ok": True})
        post = self.posts.get(key)
        if post is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"id": post["id"], "url": post["url"]})

    async def _page(self, request: web.Request) -> web.Response:
        post = self.posts.get(request.match_info["key"])
        if post is None:
            raise web.HTTPNotFound()
        payload = post["payload"]
        page = f"<h1>{html.escape(payload['title'])}</h1>{payload['html']}"
        return web.Response(text=page, content_type="text/html")
