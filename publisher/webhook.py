"""Publishing to any website through a signed JSON webhook.

Request
-------
``POST <url>`` with headers::

    Content-Type: application/json; charset=utf-8
    Idempotency-Key: <request.idempotency_key>
    X-Warta-Signature: sha256=<hex HMAC-SHA256(secret, raw request body)>

and a JSON body (schema ``warta.publish.v2``)::

    {
      "schema": "warta.publish.v2",
      "event": "publish" | "update" | "withdraw",
      "remote_id": null | "the receiver's id from its first answer" (update, withdraw),
      "revision": 0,                     (0 first publication, +1 per correction)
      "corrections": ["Ralat 7 Desember 2026: ..."],       (plain text, oldest first)
      "item_id": 17,
      "idempotency_key": "warta-17",
      "title": "plain text",
      "body": "plain text; paragraphs separated by blank lines",
      "html": "the body as safe HTML: escaped text in <p>, <br> and links; no media",
      "excerpt": "plain text",
      "category": "Berita" | null,
      "tags": ["rapat", ...],
      "section": "office section (bidang), may be empty",
      "status": "publish" | "future" | "pending" | "draft",
      "publish_at": "2025-03-01T09:00:00+07:00" | null,     (ISO 8601 with offset)
      "cover_sha256": "<sha256 of the featured photo>" | null,
      "media": [                                           (display order)
        {"filename": "Foto rapat.jpg", "mime": "image/jpeg", "kind": "photo",
         "sha256": "<hex>", "size": 123456, "alt": "", "caption": "",
         "content_base64": "<the file, standard base64>"}
      ]
    }

``update`` replaces the post ``remote_id`` in place (same id and URL; show the
``corrections`` at its end); ``withdraw`` takes it out of public view (never delete it:
it may be corrected and put back by a later ``update``); both carry the whole item and
answer like ``publish``. The ``Idempotency-Key`` is the item's key for the first
publication and ``<key>.r<revision>`` / ``<key>.withdraw.r<revision>`` after it: one key
per version, repeated on every retry of that version. v2 differs from v1 only by the
four fields above; a v1 receiver that ignores unknown fields keeps working for
first publications.

Text fields are what users typed: a receiver must escape them (or use ``html``). Files
are inline as base64 so one signed request carries everything; the body is streamed from
disk (the signature is computed in a first pass over the files), never held in memory whole.

Answer and exactly-once
-----------------------
The receiver answers 2xx with ``{"id": "...", "url": "https://..."}`` (``id`` may be a
number; an optional ``"warnings": ["..."]`` is passed on). It MUST be idempotent by
``Idempotency-Key``: a repeated key answers with the same id and url and creates nothing,
because a sender that timed out cannot know whether the first request got through.

Errors: 401/403 (signature or secret rejected), 404/405 and redirects (wrong URL) are
configuration problems; 408/429/5xx and network trouble are retried later; other 4xx mean
the receiver refuses this item.

Lookup and check (optional for receivers)
-----------------------------------------
``GET <url>?key=<key>`` signed as ``X-Warta-Signature`` over the UTF-8 bytes of the key
answers 200 ``{"id", "url"}`` when that key was published, 404 when not. With
``lookup=True`` the adapter uses it in ``find_published()`` and before each POST; by default
``find_published()`` returns None and exactly-once rests on ``Idempotency-Key``.
``check()`` sends ``GET <url>?key=`` (empty key, signature over no bytes) as a health check
and expects 2xx with any body; a receiver without GET support makes ``check()`` report a
configuration problem, which is otherwise harmless: ``publish()`` does not need GET.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

import requests

from publisher.base import (
    MediaFile,
    PublishError,
    PublishRequest,
    PublishResult,
    error_from_exception,
    error_from_status,
)
from workflow.actions import website_key
from workflow.post_html import body_html

__all__ = ["SCHEMA", "SIGNATURE_HEADER", "WebhookAdapter", "delivery_key", "sign",
           "verify_signature"]

log = logging.getLogger(__name__)

SCHEMA: Final = "warta.publish.v2"
SIGNATURE_HEADER: Final = "X-Warta-Signature"
_READ_SIZE: Final = 3 * 256 * 1024  # a multiple of 3: base64 pieces concatenate cleanly
_DETAIL_MAX: Final = 300


def sign(secret: str | bytes, body: bytes) -> str:
    """The ``X-Warta-Signature`` value for ``body``: ``sha256=<hex>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """For receivers: whether ``header`` (the X-Warta-Signature value) signs ``body``."""
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


class _SizedStream:
    """A request body that requests streams (it is iterable) with a Content-Length (it has a
    length), regenerated from disk on each iteration."""

    def __init__(self, chunks: Callable[[], Iterator[bytes]], length: int) -> None:
        self._chunks = chunks
        self._length = length

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks()

    def __len__(self) -> int:
        return self._length


@dataclass(frozen=True)
class _SignedBody:
    stream: _SizedStream
    signature: str  # the X-Warta-Signature value for the stream's bytes


def _base64_file(file: MediaFile) -> Iterator[bytes]:
    leftover = b""
    with file.path.open("rb") as stream:
        while chunk := stream.read(_READ_SIZE):
            data = leftover + chunk
            cut = len(data) - len(data) % 3
            leftover = data[cut:]
            yield base64.b64encode(data[:cut])
    yield base64.b64encode(leftover)


def _json_object_open(fields: dict[str, object]) -> bytes:
    """``fields`` as a JSON object without its closing brace, so more members can follow."""
    return json.dumps(fields, ensure_ascii=False).encode()[:-1]


def _media_meta(file: MediaFile) -> dict[str, object]:
    return {
        "filename": file.filename,
        "mime": file.mime,
        "kind": file.kind,
        "sha256": file.sha256,
        "size": file.path.stat().st_size,
        "alt": file.alt,
        "caption": file.caption,
    }


def delivery_key(request: PublishRequest, event: str) -> str:
    """The Idempotency-Key of one version of one item (see the module docstring)."""
    return website_key(request.idempotency_key, event, request.revision)


def _payload_fields(request: PublishRequest, event: str, remote_id: str | None
                    ) -> dict[str, object]:
    return {
        "schema": SCHEMA,
        "event": event,
        "remote_id": remote_id,
        "revision": request.revision,
        "corrections": list(request.corrections),
        "item_id": request.item_id,
        "idempotency_key": request.idempotency_key,
        "title": request.title,
        "body": request.body,
        "html": body_html(request.body, request.body_format),
        "excerpt": request.excerpt,
        "category": request.category,
        "tags": list(request.tags),
        "section": request.section,
        "status": request.status,
        "publish_at": request.publish_at.isoformat() if request.publish_at else None,
        "cover_sha256": request.cover_sha256,
    }


def _body_chunks(request: PublishRequest, metas: list[dict[str, object]], event: str,
                 remote_id: str | None) -> Iterator[bytes]:
    yield _json_object_open(_payload_fields(request, event, remote_id)) + b', "media": ['
    for index, (file, meta) in enumerate(zip(request.media, metas, strict=True)):
        yield (b", " if index else b"") + _json_object_open(meta) + b', "content_base64": "'
        yield from _base64_file(file)
        yield b'"}'
    yield b"]}"


class WebhookAdapter:
    """Publishes items by POSTing them to a receiver. See the module docstring."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        timeout: float = 60.0,
        *,
        lookup: bool = False,
        session: requests.Session | None = None,
    ) -> None:
        """url: the receiver; secret: the shared HMAC key; timeout: seconds to wait for an
        answer; lookup: the receiver implements ``GET url?key=`` (see module docstring)."""
        if not secret:
            raise ValueError("webhook secret must not be empty")
        self._url = url
        self._secret = secret.encode()
        self._timeout = timeout
        self._lookup = lookup
        self._session = session or requests.Session()

    def __repr__(self) -> str:  # no secret in logs or tracebacks
        return f"WebhookAdapter({self._url!r})"

    def check(self) -> None:
        self._raise_for_status(self._get(""), "GET webhook")

    def find_published(self, key: str) -> PublishResult | None:
        if not self._lookup:
            return None
        response = self._get(key)
        if response.status_code == 404:
            return None
        return self._result(response, "GET webhook")

    def publish(self, request: PublishRequest) -> PublishResult:
        existing = self.find_published(request.idempotency_key)
        if existing is not None:
            return existing
        return self._deliver(request, "publish", None)

    def update(self, remote_id: str, request: PublishRequest) -> PublishResult:
        return self._deliver(request, "update", remote_id)

    def withdraw(self, remote_id: str, request: PublishRequest) -> None:
        self._deliver(request, "withdraw", remote_id)

    # --- internals ---------------------------------------------------------------------------

    def _deliver(self, request: PublishRequest, event: str, remote_id: str | None
                 ) -> PublishResult:
        try:
            body = self._signed_body(request, event, remote_id)
        except OSError as exc:
            raise PublishError(f"cannot read a media file: {exc}", retryable=False) from exc
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": delivery_key(request, event),
            SIGNATURE_HEADER: body.signature,
        }
        response = self._send("POST", data=body.stream, headers=headers)
        result = self._result(response, "POST webhook")
        log.info("webhook: %s %s as %s", delivery_key(request, event), event, result.remote_id)
        return result

    def _signed_body(self, request: PublishRequest, event: str, remote_id: str | None
                     ) -> _SignedBody:
        metas = [_media_meta(file) for file in request.media]
        mac = hmac.new(self._secret, digestmod=hashlib.sha256)
        length = 0
        for chunk in _body_chunks(request, metas, event, remote_id):  # first pass
            mac.update(chunk)
            length += len(chunk)
        stream = _SizedStream(lambda: _body_chunks(request, metas, event, remote_id), length)
        return _SignedBody(stream, "sha256=" + mac.hexdigest())

    def _get(self, key: str) -> requests.Response:
        headers = {SIGNATURE_HEADER: sign(self._secret, key.encode())}
        return self._send("GET", params={"key": key}, headers=headers)

    def _send(
        self,
        method: str,
        *,
        headers: Mapping[str, str],
        data: _SizedStream | None = None,
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        try:
            return self._session.request(
                method,
                self._url,
                params=params,
                data=data,
                headers=headers,
                timeout=(min(10.0, self._timeout), self._timeout),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise error_from_exception(exc, f"{method} webhook") from exc

    def _raise_for_status(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        if 300 <= status < 400:
            raise PublishError(
                f"{what}: receiver redirects to {response.headers.get('Location', '?')}",
                retryable=False,
                config_problem=True,
                status_code=status,
            )
        if not 200 <= status < 300:
            raise error_from_status(status, what, response.text[:_DETAIL_MAX].strip())

    def _result(self, response: requests.Response, what: str) -> PublishResult:
        """The receiver's {"id", "url"} answer; any other answer is an error."""
        self._raise_for_status(response, what)
        status = response.status_code
        try:
            answer = response.json()
            return PublishResult(
                remote_id=str(answer["id"]),
                url=str(answer["url"]),
                warnings=tuple(str(w) for w in answer.get("warnings") or ()),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PublishError(
                f'{what}: receiver answered {status} without JSON {{"id", "url"}}',
                retryable=False,
                config_problem=True,
                status_code=status,
            ) from exc
