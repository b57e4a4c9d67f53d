"""What every page answer carries and checks: cookies, CSRF tokens, security headers."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, MutableMapping

from aiohttp import web

SESSION_COOKIE = "warta_session"
# No inline script or style anywhere; nothing from another host (office networks, privacy).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'self' https://web.telegram.org"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def csrf_token(secret: bytes, session_token: str) -> str:
    """Bound to the browser's session: a form from another site cannot know it."""
    return hmac.new(secret, b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, session_token: str, offered: str) -> bool:
    return hmac.compare_digest(csrf_token(secret, session_token).encode(), offered.encode())


def set_session_cookie(response: web.StreamResponse, token: str, *, secure: bool,
                       embedded: bool = False) -> None:
    """`embedded`: for the Mini App, which Telegram Web shows in a frame of another site,
    where only a SameSite=None (hence Secure) cookie is sent; CSRF tokens guard its forms."""
    response.set_cookie(SESSION_COOKIE, token, httponly=True,
                        samesite="None" if embedded else "Lax", secure=secure or embedded,
                        path="/")


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:  # redirects and the router's own 404/405
        _harden(error.headers)
        raise
    _harden(response.headers)
    return response


def _harden(headers: MutableMapping[str, str]) -> None:
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers["X-Content-Type-Options"] = "nosniff"
    # Login links carry their token in the URL: never hand it on to another site.
    headers["Referrer-Policy"] = "no-referrer"
    headers.setdefault("Cache-Control", "no-store")
