"""WordPressAdapter against a real WordPress: what a reader and the webmaster would see.

Every check reads the site back (REST in edit context, the public page, the files), never
the adapter's own idea of what it did.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from PIL import Image, ImageDraw

from publisher.base import MediaFile, PublishError, PublishRequest, PublishResult
from publisher.wordpress import WordPressAdapter, media_slug, post_slug
from tests.wordpress_site import (  # noqa: F401  (fixtures)
    WordPressServer,
    WordPressSite,
    _loopback_without_proxy,
    wordpress_server,
    wordpress_site,
)
from warta.demo import report_pdf
from workflow.post_html import escape_text

pytestmark = pytest.mark.wordpress

JAKARTA = ZoneInfo("Asia/Jakarta")


# --- making items -------------------------------------------------------------------------


def _media(path: Path, mime: str, kind: str, name: str, **text: str) -> MediaFile:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return MediaFile(path, mime, kind, name, sha, **text)  # type: ignore[arg-type]


def photo(tmp_path: Path, name: str, color: str, **text: str) -> MediaFile:
    """A real JPEG with some structure (and a unique file per test run)."""
    image = Image.new("RGB", (800, 600), color)
    draw = ImageDraw.Draw(image)
    draw.ellipse((200, 150, 600, 450), fill="white")
    draw.text((20, 20), uuid.uuid4().hex, fill="black")
    path = tmp_path / f"{uuid.uuid4().hex}.jpg"
    image.save(path, "JPEG", quality=85)
    return _media(path, "image/jpeg", "photo", name, **text)


def pdf(tmp_path: Path, name: str) -> MediaFile:
    """A small valid PDF, unique per call."""
    path = tmp_path / f"{uuid.uuid4().hex}.pdf"
    path.write_bytes(report_pdf(uuid.uuid4().hex))
    return _media(path, "application/pdf", "document", name)


def mp4(tmp_path: Path, name: str, *, valid: bool) -> MediaFile:
    """A file claiming to be MP4: ISO-BMFF boxes when ``valid``, else plain text."""
    path = tmp_path / f"{uuid.uuid4().hex}.mp4"
    if valid:
        ftyp = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
        payload = uuid.uuid4().bytes
        mdat = (8 + len(payload)).to_bytes(4, "big") + b"mdat" + payload
        path.write_bytes(ftyp + mdat)
    else:
        path.write_text("not a video at all\n" * 20)
    return _media(path, "video/mp4", "video", name)


def item(
    title: str = "Rapat koordinasi kecamatan",
    body: str = "Paragraf pertama.\n\nParagraf kedua.",
    media: tuple[MediaFile, ...] = (),
    **changes: Any,
) -> PublishRequest:
    item_id = int(uuid.uuid4().int % 1_000_000_000)
    fields: dict[str, Any] = {
        "item_id": item_id,
        # Unique per run: a WordPress given by the environment keeps earlier runs' posts.
        "idempotency_key": f"warta-test-{uuid.uuid4().hex[:12]}",
        "title": title,
        "body": body,
        "excerpt": "Ringkasan berita.",
        "category": None,
        "tags": (),
        "media": media,
        "cover_sha256": None,
        "status": "publish",
        "publish_at": None,
        "section": "Pemerintahan",
    }
    fields.update(changes)
    return PublishRequest(**fields)


# --- reading the site back ----------------------------------------------------------------


class Site:
    """Authenticated reads of what WordPress now holds."""

    def __init__(self, site: WordPressSite) -> None:
        self.site = site
        self.session = requests.Session()
        self.session.auth = (site.user, site.app_password)

    def get(self, route: str, **params: Any) -> Any:
        response = self.session.get(f"{self.site.url}/wp-json{route}", params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, post_id: str | int) -> dict[str, Any]:
        return dict(self.get(f"/wp/v2/posts/{post_id}", context="edit"))

    def posts_with_slug(self, slug: str) -> list[dict[str, Any]]:
        statuses = "publish,future,draft,pending,private"
        return list(self.get("/wp/v2/posts", slug=slug, status=statuses, context="edit"))

    def media_of(self, request: PublishRequest) -> list[dict[str, Any]]:
        """All attachments with the item's media slugs, duplicates included: WordPress gives
        a second upload with the same slug "<slug>-2" and so on."""
        slugs = [
            media_slug(request.idempotency_key, file.sha256) + suffix
            for file in request.media
            for suffix in ("", "-2", "-3", "-4")
        ]
        return list(self.get("/wp/v2/media", slug=",".join(slugs), per_page=100, context="edit"))

    def page(self, url: str) -> str:
        response = requests.get(url, timeout=30)
        response.raise_for_status()
        return response.text


@pytest.fixture
def site(wordpress_site: WordPressSite) -> Site:  # noqa: F811
    return Site(wordpress_site)


@pytest.fixture
def adapter(wordpress_site: WordPressSite) -> WordPressAdapter:  # noqa: F811
    return WordPressAdapter(wordpress_site.url, wordpress_site.user, wordpress_site.app_password)


def term_names(site: Site, taxonomy: str, ids: list[int]) -> set[str]:
    return {html.unescape(site.get(f"/wp/v2/{taxonomy}/{i}")["name"]) for i in ids}


# --- sessions that misbehave on purpose ---------------------------------------------------


class SimulatedCrash(Exception):
    """The process died: raised after WordPress has answered, before the caller sees it."""


class RecordingSession(requests.Session):
    """Counts requests and can crash right after a chosen request got its answer."""

    def __init__(self, crash_after: Callable[[str, str, requests.Response], bool] | None = None):
        super().__init__()
        self.calls: list[tuple[str, str]] = []  # (method, REST route)
        self.urls: list[str] = []
        self.crash_after = crash_after

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        verb, address = _text(method), _text(url)
        self.urls.append(address)
        response = super().request(verb, address, *args, **kwargs)
        route = _route(address, kwargs.get("params"))
        self.calls.append((verb, route))
        if self.crash_after and self.crash_after(verb, route, response):
            raise SimulatedCrash(f"after {verb} {route} -> {response.status_code}")
        return response


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _route(url: str, params: Any) -> str:
    if params and "rest_route" in params:
        return str(params["rest_route"])
    return url.split("/wp-json", 1)[-1].split("?", 1)[0]


# --- tests --------------------------------------------------------------------------------


def test_check_accepts_good_credentials(adapter: WordPressAdapter) -> None:
    adapter.check()
    assert adapter.find_published(f"warta-test-{uuid.uuid4().hex[:12]}") is None


def test_photos_document_caption_become_a_complete_post(
    adapter: WordPressAdapter, site: Site, tmp_path: Path
) -> None:
    photos = (
        photo(
            tmp_path,
            "Pembukaan rapat.jpg",
            "navy",
            alt="Camat membuka rapat",
            caption="Camat membuka rapat <koordinasi>",
        ),
        photo(tmp_path, "Peserta.jpg", "darkgreen", alt="Peserta rapat"),
        photo(tmp_path, "Foto bersama ñ.jpg", "maroon"),
    )
    document = pdf(tmp_path, "Undangan Rapat Koordinasi.pdf")
    unique_tag = f"tag-{uuid.uuid4().hex[:8]}"
    request = item(
        media=(*photos, document),
        cover_sha256=photos[1].sha256,
        category="Berita Kecamatan",
        tags=("rapat", unique_tag),
    )

    result = adapter.publish(request)

    post = site.post(result.remote_id)
    assert result.url == post["link"]
    assert result.warnings == ()
    assert post["status"] == "publish"
    assert post["slug"] == post_slug(request.idempotency_key)
    assert html.unescape(post["title"]["rendered"]) == request.title
    content = post["content"]["rendered"]
    assert "<p>Paragraf pertama.</p>" in content and "<p>Paragraf kedua.</p>" in content
    assert "Ringkasan berita." in post["excerpt"]["rendered"]

    media = {m["slug"]: m for m in site.media_of(request)}
    assert len(media) == 4
    by_sha = {f.sha256: media[media_slug(request.idempotency_key, f.sha256)] for f in photos}
    # Featured image: the chosen cover.
    assert post["featured_media"] == by_sha[photos[1].sha256]["id"]
    # Gallery: the three photos in order, with alt text and the escaped caption.
    gallery = content[content.index("wp-block-gallery") :]
    ids = [int(i) for i in re.findall(r'class="wp-image-(\d+)"', gallery)]
    assert ids == [by_sha[f.sha256]["id"] for f in photos]
    assert 'alt="Camat membuka rapat"' in gallery
    assert "Camat membuka rapat &lt;koordinasi&gt;</figcaption>" in gallery
    assert by_sha[photos[0].sha256]["alt_text"] == "Camat membuka rapat"
    # The document: a link with its human name, to a file with the same bytes.
    pdf_media = media[media_slug(request.idempotency_key, document.sha256)]
    link = f'<a href="{pdf_media["source_url"]}">Undangan Rapat Koordinasi.pdf</a>'
    assert link in content
    downloaded = requests.get(pdf_media["source_url"], timeout=30).content
    assert hashlib.sha256(downloaded).hexdigest() == document.sha256
    # Category and tags, by name.
    assert term_names(site, "categories", post["categories"]) == {"Berita Kecamatan"}
    assert term_names(site, "tags", post["tags"]) == {"rapat", unique_tag}
    # The public page shows the same to a reader.
    page = site.page(result.url)
    assert link in page
    assert all(f'wp-image-{i}"' in page for i in ids)


def test_scheduled_item_is_future_at_the_right_time(adapter: WordPressAdapter, site: Site) -> None:
    when = (datetime.now(JAKARTA) + timedelta(days=3)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    request = item(status="future", publish_at=when)

    result = adapter.publish(request)

    post = site.post(result.remote_id)
    assert post["status"] == "future"
    expected_utc = when.astimezone(UTC).replace(tzinfo=None).isoformat()
    assert post["date_gmt"] == expected_utc
    assert post["date"] == when.replace(tzinfo=None).isoformat()  # the site runs on WIB
    assert requests.get(result.url, timeout=30).status_code == 404  # not public yet


def test_post_status_override_holds_items_for_review(
    wordpress_site: WordPressSite,  # noqa: F811
    site: Site,
) -> None:
    adapter = WordPressAdapter(*wordpress_site, post_status="pending")
    when = datetime.now(JAKARTA) + timedelta(days=2)
    request = item(status="future", publish_at=when.replace(microsecond=0))

    result = adapter.publish(request)

    post = site.post(result.remote_id)
    assert post["status"] == "pending"
    assert post["date_gmt"] == when.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()
    assert adapter.find_published(request.idempotency_key) == PublishResult(
        result.remote_id, result.url
    )


def _after_post_created(method: str, route: str, response: requests.Response) -> bool:
    return method == "POST" and route == "/wp/v2/posts" and response.status_code == 201


def _after_second_upload() -> Callable[[str, str, requests.Response], bool]:
    uploads = 0

    def crash(method: str, route: str, response: requests.Response) -> bool:
        nonlocal uploads
        uploads += method == "POST" and route == "/wp/v2/media" and response.status_code == 201
        return uploads == 2

    return crash


@pytest.mark.parametrize(
    "crash_after",
    [_after_post_created, _after_second_upload()],
    ids=["after-post-created", "after-second-upload"],
)
def test_retry_after_a_crash_creates_no_duplicates(
    wordpress_site: WordPressSite,  # noqa: F811
    site: Site,
    tmp_path: Path,
    crash_after: Callable[[str, str, requests.Response], bool],
) -> None:
    files = (
        photo(tmp_path, "a.jpg", "olive"),
        photo(tmp_path, "b.jpg", "teal"),
        pdf(tmp_path, "c.pdf"),
    )
    request = item(media=files, cover_sha256=files[0].sha256)
    url, user, password = wordpress_site
    crashing = WordPressAdapter(url, user, password, session=RecordingSession(crash_after))
    with pytest.raises(SimulatedCrash):
        crashing.publish(request)

    # A new process: a fresh adapter and session.
    result = WordPressAdapter(url, user, password).publish(request)

    posts = site.posts_with_slug(post_slug(request.idempotency_key))
    assert [str(p["id"]) for p in posts] == [result.remote_id]
    assert len(site.media_of(request)) == 3
    content = site.post(result.remote_id)["content"]["rendered"]
    assert content.count("wp-image-") == 2 and "c.pdf</a>" in content


def _writes(session: RecordingSession) -> list[str]:
    """The routes the adapter POSTed to, media ids replaced by ``<id>``."""
    return [re.sub(r"/\d+$", "/<id>", route) for method, route in session.calls if method == "POST"]


def test_alt_text_and_caption_travel_with_the_upload(
    wordpress_site: WordPressSite,  # noqa: F811
    site: Site,
    tmp_path: Path,
) -> None:
    files = (
        photo(tmp_path, "a.jpg", "navy", alt="Camat membuka rapat", caption="Camat & warga <desa>"),
        photo(tmp_path, "b.jpg", "teal", alt="Peserta rapat"),
        pdf(tmp_path, "Undangan.pdf"),
    )
    request = item(media=files, cover_sha256=files[0].sha256)
    session = RecordingSession()

    result = WordPressAdapter(*wordpress_site, session=session).publish(request)

    # One request per file, none to set its texts afterwards.
    assert _writes(session) == ["/wp/v2/media"] * 3 + ["/wp/v2/posts"]
    media = {m["slug"]: m for m in site.media_of(request)}
    remote = [media[media_slug(request.idempotency_key, f.sha256)] for f in files]
    assert [m["alt_text"] for m in remote] == ["Camat membuka rapat", "Peserta rapat", ""]
    assert [m["caption"]["raw"] for m in remote] == [escape_text(f.caption) for f in files]
    assert remote[0]["caption"]["raw"] == "Camat &amp; warga &lt;desa&gt;"
    gallery = site.post(result.remote_id)["content"]["rendered"]
    assert 'alt="Peserta rapat"' in gallery
    assert "Camat &amp; warga &lt;desa&gt;</figcaption>" in gallery


def test_reused_media_gets_only_the_texts_that_changed(
    wordpress_site: WordPressSite,  # noqa: F811
    site: Site,
    tmp_path: Path,
) -> None:
    kept = photo(tmp_path, "a.jpg", "olive", alt="Judul lama", caption="Bidang Sosial")
    changed = photo(tmp_path, "b.jpg", "maroon", alt="Judul lama", caption="Bidang Sosial")
    request = item(media=(kept, changed))
    crashing = WordPressAdapter(*wordpress_site, session=RecordingSession(_after_second_upload()))
    with pytest.raises(SimulatedCrash):
        crashing.publish(request)
    # Meanwhile the editor retitled the second photo; the next attempt reuses both files.
    retitled = dataclasses.replace(changed, alt="Judul baru", caption="Bidang Ekonomi")
    again = dataclasses.replace(request, media=(kept, retitled))
    session = RecordingSession()

    WordPressAdapter(*wordpress_site, session=session).publish(again)

    assert _writes(session) == ["/wp/v2/media/<id>", "/wp/v2/posts"]
    media = {m["slug"]: m for m in site.media_of(again)}
    assert len(media) == 2
    by_file = [media[media_slug(again.idempotency_key, f.sha256)] for f in (kept, retitled)]
    assert [m["alt_text"] for m in by_file] == ["Judul lama", "Judul baru"]
    assert [m["caption"]["raw"] for m in by_file] == ["Bidang Sosial", "Bidang Ekonomi"]


def test_texts_too_long_for_a_url_are_applied_after_the_upload(
    wordpress_site: WordPressSite,  # noqa: F811
    site: Site,
    tmp_path: Path,
) -> None:
    alt = "😀" * 300  # the longest title, and 3,600 characters URL-encoded
    request = item(media=(photo(tmp_path, "a.jpg", "gray", alt=alt, caption="Keterangan"),))
    session = RecordingSession()

    WordPressAdapter(*wordpress_site, session=session).publish(request)

    assert _writes(session) == ["/wp/v2/media", "/wp/v2/media/<id>", "/wp/v2/posts"]
    [remote] = site.media_of(request)
    assert remote["alt_text"] == alt and remote["caption"]["raw"] == "Keterangan"


def test_site_down_is_retryable_and_the_retry_publishes_once(
    wordpress_site: WordPressSite,  # noqa: F811
    wordpress_server: WordPressServer | None,  # noqa: F811
    site: Site,
    tmp_path: Path,
) -> None:
    request = item(media=(photo(tmp_path, "x.jpg", "purple"),))
    url, user, password = wordpress_site
    with _site_down(wordpress_server, url) as down_url:
        with pytest.raises(PublishError) as failure:
            WordPressAdapter(down_url, user, password).publish(request)
    assert failure.value.retryable and not failure.value.config_problem

    result = WordPressAdapter(url, user, password).publish(request)
    again = WordPressAdapter(url, user, password).publish(request)

    assert again.remote_id == result.remote_id
    assert len(site.posts_with_slug(post_slug(request.idempotency_key))) == 1


@contextmanager
def _site_down(server: WordPressServer | None, url: str) -> Iterator[str]:
    """The site unreachable: our own server really stopped, or for a site we do not control,
    a loopback port where nothing listens."""
    if server is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        yield f"http://127.0.0.1:{port}"
        return
    server.stop()
    try:
        yield url
    finally:
        server.start()


def test_wrong_password_is_a_config_problem_without_retries(
    wordpress_site: WordPressSite,  # noqa: F811
    tmp_path: Path,
) -> None:
    session = RecordingSession()
    bad = WordPressAdapter(
        wordpress_site.url, wordpress_site.user, "abcd efgh ijkl mnop qrst uvwx", session=session
    )
    with pytest.raises(PublishError) as failure:
        bad.publish(item(media=(photo(tmp_path, "x.jpg", "gray"),)))
    assert failure.value.config_problem and not failure.value.retryable
    assert all(method == "GET" for method, _ in session.calls)  # nothing was written
    assert len(session.calls) <= 2  # API discovery and the lookup, no retries

    with pytest.raises(PublishError) as check_failure:
        bad.check()
    assert check_failure.value.config_problem and check_failure.value.status_code == 401


def test_hostile_text_is_shown_as_text(adapter: WordPressAdapter, site: Site) -> None:
    attack = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    filler = "Warga desa bergotong royong 😀. " * 130
    body = (
        f"{attack}\n<b>tebal?</b> [gallery] [embed]http://example.invalid/x[/embed]\n\n"
        f"<!-- wp:html --><script>alert(3)</script><!-- /wp:html -->\n\n{filler}AKHIR"
    )
    assert len(body) > 4000
    request = item(title=f"{attack} Judul 😀 & <i>miring</i>", body=body)

    result = adapter.publish(request)

    post = site.post(result.remote_id)
    rendered = [post["content"]["rendered"], post["title"]["rendered"], site.page(result.url)]
    for text in rendered:
        assert "<script>alert" not in text and "<img src=x" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=" in text
    content = rendered[0]
    assert "&lt;b&gt;tebal?&lt;/b&gt;" in content
    assert "&#91;gallery&#93;" in content  # the shortcode was not run
    assert "wp-block-gallery" not in content and "<iframe" not in content
    assert "😀" in content and "AKHIR" in content
    # Stored as escaped text; shown as the same characters (WordPress curls the quotes).
    assert html.unescape(post["title"]["raw"]) == request.title
    assert "Judul 😀 &amp; &lt;i&gt;miring&lt;/i&gt;" in post["title"]["rendered"]


def test_rest_route_form(wordpress_site: WordPressSite, site: Site) -> None:  # noqa: F811
    session = RecordingSession()
    adapter = WordPressAdapter(*wordpress_site, rest_route_form=True, session=session)

    result = adapter.publish(item(category="Berita Kecamatan"))

    assert site.post(result.remote_id)["link"] == result.url
    assert session.urls and not any("/wp-json" in url for url in session.urls)


class NoPrettyPermalinks(RecordingSession):
    """A host without rewrite rules: /wp-json/ is a 404 page."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if "/wp-json" in str(url):
            self.urls.append(str(url))
            response = requests.Response()
            response.status_code = 404
            response._content = b"<html>Not Found</html>"
            response.url = str(url)
            return response
        return super().request(method, url, *args, **kwargs)


def test_auto_detects_rest_route_form(wordpress_site: WordPressSite, site: Site) -> None:  # noqa: F811
    session = NoPrettyPermalinks()
    adapter = WordPressAdapter(*wordpress_site, session=session)

    result = adapter.publish(item())

    assert site.post(result.remote_id)["link"] == result.url
    assert sum("/wp-json" in url for url in session.urls) == 1  # the detection only


def test_video_uploaded_when_accepted_and_warned_when_refused(
    adapter: WordPressAdapter, site: Site, tmp_path: Path
) -> None:
    good = mp4(tmp_path, "Video kegiatan.mp4", valid=True)
    broken = mp4(tmp_path, "Rusak.mp4", valid=False)
    request = item(media=(good, broken))

    result = adapter.publish(request)

    content = site.post(result.remote_id)["content"]["rendered"]
    assert content.count("<video") == 1
    assert len(result.warnings) == 1
    assert "Rusak.mp4" in result.warnings[0] and "video/mp4" in result.warnings[0]


class TermSearchBlind(requests.Session):
    """Term search finds nothing, as for a term created by someone else a moment ago."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        response = super().request(method, url, *args, **kwargs)
        if method == "GET" and re.search(r"/wp/v2/(categories|tags)$", str(url)):
            response._content = b"[]"
        return response


def test_existing_term_found_through_term_exists(
    wordpress_site: WordPressSite,  # noqa: F811
    site: Site,
) -> None:
    name = f"Kategori {uuid.uuid4().hex[:6]}"
    created = site.session.post(
        f"{wordpress_site.url}/wp-json/wp/v2/categories", json={"name": name}, timeout=30
    ).json()
    adapter = WordPressAdapter(*wordpress_site, session=TermSearchBlind())

    result = adapter.publish(item(category=name))

    assert site.post(result.remote_id)["categories"] == [created["id"]]


def test_publish_is_idempotent_and_find_published_finds_it(
    adapter: WordPressAdapter, tmp_path: Path
) -> None:
    request = item(media=(photo(tmp_path, "x.jpg", "orange"),))
    first = adapter.publish(request)
    assert adapter.publish(request) == PublishResult(first.remote_id, first.url)
    assert adapter.find_published(request.idempotency_key) == PublishResult(
        first.remote_id, first.url
    )


@pytest.fixture(scope="module")
def author(wordpress_site: WordPressSite) -> WordPressSite:  # noqa: F811
    """A least-privilege account, as a careful webmaster would give Warta: role Author."""
    admin = Site(wordpress_site)
    name = f"penulis-{uuid.uuid4().hex[:8]}"
    api = f"{wordpress_site.url}/wp-json/wp/v2"
    user = admin.session.post(
        f"{api}/users",
        json={"username": name, "email": f"{name}@example.invalid",
              "password": uuid.uuid4().hex, "roles": ["author"]},
        timeout=30,
    ).json()  # fmt: skip
    app = admin.session.post(
        f"{api}/users/{user['id']}/application-passwords", json={"name": "warta"}, timeout=30
    ).json()
    return WordPressSite(wordpress_site.url, name, app["password"])


def test_author_account_publishes_everything_but_new_terms(
    author: WordPressSite, site: Site, tmp_path: Path
) -> None:
    existing_tag = f"tag-{uuid.uuid4().hex[:8]}"
    site.session.post(f"{site.site.url}/wp-json/wp/v2/tags", json={"name": existing_tag})
    files = (
        photo(tmp_path, "a.jpg", "navy", caption="Keterangan <foto>"),
        photo(tmp_path, "b.jpg", "teal"),
        pdf(tmp_path, "Lampiran.pdf"),
        mp4(tmp_path, "Video.mp4", valid=True),
    )
    new_category = f"Kategori baru {uuid.uuid4().hex[:6]}"
    request = item(
        body="Isi <script>alert(1)</script>\n\nhttps://kab.example.go.id/info?a=1&b=2",
        media=files, cover_sha256=files[1].sha256, category=new_category, tags=(existing_tag,),
    )  # fmt: skip
    adapter = WordPressAdapter(*author)
    adapter.check()

    result = adapter.publish(request)

    post = site.post(result.remote_id)
    assert post["status"] == "publish" and post["author"] != 1
    assert term_names(site, "tags", post["tags"]) == {existing_tag}
    assert post["categories"] == [1]  # WordPress's default category
    assert len(result.warnings) == 1 and new_category in result.warnings[0]
    # WordPress filters an author's HTML (kses); the markup must come through unchanged.
    raw = post["content"]["raw"]
    rendered = post["content"]["rendered"]
    assert raw.count("wp-image-") == 2 and rendered.count("<img") == 2
    assert "Keterangan &lt;foto&gt;</figcaption>" in rendered
    assert "Lampiran.pdf</a>" in rendered and "<video controls" in rendered
    assert (
        '<a href="https://kab.example.go.id/info?a=1&amp;b=2" rel="nofollow noopener">' in rendered
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered
    assert post["featured_media"] != 0


# --- corrections and take-downs -----------------------------------------------------------


def test_a_correction_updates_the_same_post_in_place_with_its_note(
    adapter: WordPressAdapter, site: Site, tmp_path: Path
) -> None:
    first_photo = photo(tmp_path, "Foto 1.jpg", "red")
    original = item(title="Camat Budi membuka rapat", media=(first_photo,),
                    cover_sha256=first_photo.sha256, tags=("rapat",))
    published = adapter.publish(original)
    second_photo = photo(tmp_path, "Foto 2.jpg", "blue")
    corrected = dataclasses.replace(
        original, title="Camat Bambang membuka rapat", body="Nama camat sudah dibetulkan.",
        media=(first_photo, second_photo), revision=1, tags=(),
        corrections=("Ralat 7 Desember 2026: nama camat salah tulis <Budi>.",))
    again = adapter.update(published.remote_id, corrected)
    assert (again.remote_id, again.url) == (published.remote_id, published.url)
    adapter.update(published.remote_id, corrected)  # a retry after a crash: same post
    post = site.post(published.remote_id)
    assert html.unescape(post["title"]["raw"]) == "Camat Bambang membuka rapat"
    assert post["status"] == "publish" and post["tags"] == []
    assert len(site.posts_with_slug(post_slug(original.idempotency_key))) == 1
    page = site.page(published.url)
    assert "Nama camat sudah dibetulkan." in page and "Budi membuka" not in page
    assert "Ralat 7 Desember 2026: nama camat salah tulis &lt;Budi&gt;." in page
    assert page.index("Nama camat sudah") < page.index("Ralat 7 Desember")
    assert len(site.media_of(corrected)) == 2  # the kept photo was not uploaded again


def test_a_take_down_hides_the_post_without_deleting_it_and_an_update_brings_it_back(
    wordpress_site: WordPressSite, site: Site  # noqa: F811
) -> None:
    for hidden in ("draft", "private"):
        adapter = WordPressAdapter(wordpress_site.url, wordpress_site.user,
                                   wordpress_site.app_password, withdrawn_status=hidden)
        request = item(title=f"Berita yang ditarik ({hidden})")
        published = adapter.publish(request)
        adapter.withdraw(published.remote_id, request)
        adapter.withdraw(published.remote_id, request)  # retried: still one hidden post
        assert site.post(published.remote_id)["status"] == hidden
        assert requests.get(published.url, timeout=30).status_code == 404  # not public
        adapter.update(published.remote_id, dataclasses.replace(request, revision=1))
        assert site.post(published.remote_id)["status"] == "publish"


def test_an_update_while_the_site_is_down_is_retryable(
    wordpress_site: WordPressSite, site: Site  # noqa: F811
) -> None:
    adapter = WordPressAdapter(wordpress_site.url, wordpress_site.user,
                               wordpress_site.app_password)
    request = item()
    published = adapter.publish(request)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead_port = unused.getsockname()[1]
    down = WordPressAdapter(f"http://127.0.0.1:{dead_port}", wordpress_site.user,
                            wordpress_site.app_password, timeout=2)
    for attempt in (lambda: down.update(published.remote_id, request),
                    lambda: down.withdraw(published.remote_id, request)):
        with pytest.raises(PublishError) as failed:
            attempt()
        assert failed.value.retryable
    assert site.post(published.remote_id)["status"] == "publish"
