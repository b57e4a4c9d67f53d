"""WebhookAdapter against a local receiver (http.server on 127.0.0.1 in a thread)."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from publisher.base import MediaFile, PublishError, PublishRequest
from publisher.webhook import SCHEMA, WebhookAdapter, sign, verify_signature
from tests.wordpress_site import _loopback_without_proxy  # noqa: F401  (fixture)

SECRET = "rahasia-bersama-uji"
WIB = timezone(timedelta(hours=7))
TOP_LEVEL_FIELDS = {
    "schema", "event", "remote_id", "revision", "corrections", "item_id", "idempotency_key",
    "title", "body", "html", "excerpt", "category", "tags", "section", "status", "publish_at",
    "cover_sha256", "media",
}  # fmt: skip
MEDIA_FIELDS = {"filename", "mime", "kind", "sha256", "size", "alt", "caption", "content_base64"}


@dataclass
class Receiver:
    """A website that implements the documented receiver contract, or fails on demand."""

    url: str = ""
    answer_status: int | None = None  # force this status instead of the contract's answer
    requests: list[dict[str, Any]] = field(default_factory=list)
    published: dict[str, dict[str, Any]] = field(default_factory=dict)  # by Idempotency-Key

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        self.requests.append({"method": method, "path": path, "headers": headers, "body": body})
        if self.answer_status is not None:
            return self.answer_status, {"error": "forced"}
        if urlsplit(path).path != urlsplit(self.url).path:
            return 404, {"error": "no such page"}
        if method == "GET":
            key = parse_qs(urlsplit(path).query, keep_blank_values=True).get("key", [""])[0]
            if not verify_signature(SECRET, key.encode(), headers.get("X-Warta-Signature")):
                return 401, {"error": "bad signature"}
            if key == "":  # the health check
                return 200, {"ok": True}
            return (200, self.published[key]) if key in self.published else (404, {})
        if not verify_signature(SECRET, body, headers.get("X-Warta-Signature")):
            return 401, {"error": "bad signature"}
        key = headers["Idempotency-Key"]
        remote_id = json.loads(body).get("remote_id")
        if key not in self.published:  # idempotent by key, as the contract requires
            number = int(remote_id) if remote_id else len(self.published) + 1
            self.published[key] = {"id": number, "url": f"https://kab.example/berita/{number}"}
        return 201, self.published[key]

    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST"]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status, answer = receiver.handle(self.command, self.path, self.headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver(_loopback_without_proxy: None) -> Iterator[Receiver]:  # noqa: F811
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}/warta-hook"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _file(tmp_path: Path, name: str, data: bytes, mime: str, kind: str, **text: str) -> MediaFile:
    path = tmp_path / hashlib.sha1(data).hexdigest()
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    return MediaFile(path, mime, kind, name, sha, **text)  # type: ignore[arg-type]


def _request(tmp_path: Path, key: str = "warta-17") -> PublishRequest:
    photo = _file(
        tmp_path, "Foto rapat ñ.jpg", b"\xff\xd8\xff" + bytes(range(256)) * 4001, "image/jpeg",
        "photo", alt="Camat", caption="Rapat <pagi>",
    )  # fmt: skip
    document = _file(tmp_path, "Surat.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf", "document")
    return PublishRequest(
        item_id=17,
        idempotency_key=key,
        title="Rapat <b>koordinasi</b> 😀",
        body="Baris satu\nbaris dua <script>x</script>\n\nParagraf dua",
        excerpt="Ringkas",
        category="Berita",
        tags=("rapat", "camat"),
        media=(photo, document),
        cover_sha256=photo.sha256,
        status="future",
        publish_at=datetime(2030, 5, 2, 9, 0, tzinfo=WIB),
        section="Pemerintahan",
    )


def test_publish_sends_the_documented_signed_payload(receiver: Receiver, tmp_path: Path) -> None:
    request = _request(tmp_path)

    result = WebhookAdapter(receiver.url, SECRET).publish(request)

    assert (result.remote_id, result.url) == ("1", "https://kab.example/berita/1")
    (sent,) = receiver.posts()
    headers, body = sent["headers"], sent["body"]
    assert verify_signature(SECRET, body, headers["X-Warta-Signature"])
    assert headers["Idempotency-Key"] == "warta-17"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    # Streamed from disk, yet with a Content-Length (simple receivers need one).
    assert "Transfer-Encoding" not in headers and int(headers["Content-Length"]) == len(body)
    payload = json.loads(body)
    assert set(payload) == TOP_LEVEL_FIELDS
    assert payload["schema"] == SCHEMA
    assert payload["item_id"] == 17 and payload["idempotency_key"] == "warta-17"
    assert payload["title"] == request.title and payload["body"] == request.body
    assert payload["html"].count("<p>") == 2
    assert "&lt;script&gt;x&lt;/script&gt;" in payload["html"] and "<script>" not in payload["html"]
    assert payload["tags"] == ["rapat", "camat"] and payload["category"] == "Berita"
    assert payload["status"] == "future"
    assert datetime.fromisoformat(payload["publish_at"]) == request.publish_at
    assert payload["cover_sha256"] == request.media[0].sha256
    for sent_file, file in zip(payload["media"], request.media, strict=True):
        assert set(sent_file) == MEDIA_FIELDS
        content = base64.b64decode(sent_file["content_base64"], validate=True)
        assert content == file.path.read_bytes()
        assert sent_file["size"] == len(content)
        assert (sent_file["filename"], sent_file["mime"], sent_file["kind"]) == (
            file.filename, file.mime, file.kind,
        )  # fmt: skip
        assert sent_file["sha256"] == hashlib.sha256(content).hexdigest()
    assert payload["media"][0]["alt"] == "Camat"
    assert payload["media"][0]["caption"] == "Rapat <pagi>"


def test_retry_gets_the_same_post(receiver: Receiver, tmp_path: Path) -> None:
    request = _request(tmp_path)
    adapter = WebhookAdapter(receiver.url, SECRET)
    first = adapter.publish(request)
    assert adapter.publish(request) == first
    assert len(receiver.published) == 1


def test_lookup_finds_published_items_without_posting_again(
    receiver: Receiver, tmp_path: Path
) -> None:
    request = _request(tmp_path)
    adapter = WebhookAdapter(receiver.url, SECRET, lookup=True)
    assert adapter.find_published(request.idempotency_key) is None
    first = adapter.publish(request)
    assert adapter.find_published(request.idempotency_key) == first
    assert adapter.publish(request) == first
    assert len(receiver.posts()) == 1
    assert WebhookAdapter(receiver.url, SECRET).find_published("warta-17") is None  # no lookup


@pytest.mark.parametrize(
    ("status", "retryable", "config_problem"),
    [(500, True, False), (503, True, False), (429, True, False), (401, False, True),
     (403, False, True), (404, False, True), (400, False, False), (422, False, False)],
)  # fmt: skip
def test_error_answers_are_classified(
    receiver: Receiver, tmp_path: Path, status: int, retryable: bool, config_problem: bool
) -> None:
    receiver.answer_status = status
    with pytest.raises(PublishError) as failure:
        WebhookAdapter(receiver.url, SECRET).publish(_request(tmp_path))
    assert (failure.value.retryable, failure.value.config_problem) == (retryable, config_problem)
    assert failure.value.status_code == status
    assert len(receiver.posts()) == 1  # no retries inside the adapter


def test_wrong_secret_is_a_config_problem(receiver: Receiver, tmp_path: Path) -> None:
    with pytest.raises(PublishError) as failure:
        WebhookAdapter(receiver.url, "not-the-secret").publish(_request(tmp_path))
    assert failure.value.config_problem and not failure.value.retryable
    assert not receiver.published


def test_unreachable_receiver_is_retryable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PublishError) as failure:
        WebhookAdapter(f"http://127.0.0.1:{port}/hook", SECRET, timeout=5).publish(
            _request(tmp_path)
        )
    assert failure.value.retryable and not failure.value.config_problem


def test_answer_without_id_and_url_is_an_error(receiver: Receiver, tmp_path: Path) -> None:
    receiver.handle = lambda *args: (200, {"ok": True})  # type: ignore[method-assign]
    with pytest.raises(PublishError) as failure:
        WebhookAdapter(receiver.url, SECRET).publish(_request(tmp_path))
    assert failure.value.config_problem


def test_check(receiver: Receiver) -> None:
    WebhookAdapter(receiver.url, SECRET).check()
    with pytest.raises(PublishError) as failure:
        WebhookAdapter(receiver.url, "not-the-secret").check()
    assert failure.value.config_problem and failure.value.status_code == 401
    with pytest.raises(PublishError) as failure:
        WebhookAdapter(receiver.url.replace("warta-hook", "x"), SECRET).check()
    assert failure.value.config_problem


def test_verify_signature() -> None:
    body = b'{"a": 1}'
    header = sign(SECRET, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(SECRET, body, header)
    assert verify_signature(SECRET.encode(), body, header)
    assert not verify_signature("other", body, header)
    assert not verify_signature(SECRET, body + b" ", header)
    assert not verify_signature(SECRET, body, None)
    assert not verify_signature(SECRET, body, header.removeprefix("sha256="))
    assert not verify_signature(SECRET, body, "sha1=" + header[7:])


def test_corrections_and_take_downs_are_signed_v2_events_keyed_per_version(
        receiver: Receiver, tmp_path: Path) -> None:
    import dataclasses

    adapter = WebhookAdapter(receiver.url, SECRET)
    first = _request(tmp_path)
    published = adapter.publish(first)
    corrected = dataclasses.replace(first, title="Judul yang benar", revision=1,
                                    corrections=("Ralat 7 Desember 2026: judul.",))
    again = adapter.update(published.remote_id, corrected)
    adapter.update(published.remote_id, corrected)  # a retry of the same version
    adapter.withdraw(published.remote_id, corrected)
    assert (again.remote_id, again.url) == (published.remote_id, published.url)
    sent = [(r["headers"]["Idempotency-Key"], json.loads(r["body"])) for r in receiver.posts()]
    assert [key for key, _ in sent] == ["warta-17", "warta-17.r1", "warta-17.r1",
                                        "warta-17.withdraw.r1"]
    assert [body["event"] for _, body in sent] == ["publish", "update", "update", "withdraw"]
    assert {body["schema"] for _, body in sent} == {"warta.publish.v2"}
    assert sent[0][1]["remote_id"] is None and sent[1][1]["remote_id"] == published.remote_id
    assert sent[1][1]["corrections"] == ["Ralat 7 Desember 2026: judul."]
    assert sent[1][1]["title"] == "Judul yang benar" and sent[1][1]["revision"] == 1
    for request in receiver.posts():
        assert verify_signature(SECRET, request["body"], request["headers"]["X-Warta-Signature"])
