"""Publishing to WordPress (6.x) through its REST API with an Application Password.

One ``publish()``:

1. looks for a post whose slug is the idempotency key (every status but trash) and returns
   it when found: WordPress has no duplicate protection, and a POST that timed out may
   still have created the post;
2. resolves the category and tags to term ids, creating missing terms when allowed;
3. uploads each file to ``/wp/v2/media`` (streamed from disk) under the deterministic slug
   ``<key>-<sha256[:12]>``, after looking those slugs up, so a retry reuses what an earlier
   attempt already uploaded. Alt text and caption go with the upload itself (query
   parameters, as the body is the file); they are applied by a second request only when
   the site holds something else: media reused from an earlier attempt whose texts
   changed since, or a site that ignored them;
4. creates the post (slug = key) with escaped content, a gallery of the photos, links to the
   documents, the cover as featured image, categories, tags and status, then checks that
   WordPress kept what it silently drops (an unusable featured image or term id).

The post is created last, so a crash at any earlier point leaves only media that the next
attempt reuses, and a crash after it is caught by step 1.

Works with pretty permalinks (``/wp-json/...``) and without (``/?rest_route=/...``);
``rest_route_form=None`` tries the first and falls back to the second on a 404.
Redirects are not followed: a redirected POST turns into a GET, and a redirect to another
host drops the credentials; a redirect is reported as a configuration problem naming the
URL to configure instead.

Application Passwords need HTTPS: over plain http WordPress ignores them (every call is
anonymous, so 401) unless the site declares ``WP_ENVIRONMENT_TYPE`` ``local``.
"""

from __future__ import annotations

import html
import json
import logging
import mimetypes
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any, BinaryIO, Final
from urllib.parse import urlencode

import requests

from publisher.base import (
    MediaFile,
    PublishError,
    PublishRequest,
    PublishResult,
    error_from_exception,
    error_from_status,
)
from workflow.models import MediaKind
from workflow.post_html import Embedded, escape_text, post_html

__all__ = ["WordPressAdapter", "media_slug", "post_slug"]

log = logging.getLogger(__name__)

# A decoded WordPress answer: requests' Response.json() and json.loads are typed Any, and the
# answers' nested fields are read with .get and checked where their type matters.
JSON = dict[str, Any]
Query = Mapping[str, str | int]

# Every status a post of ours can have, except "trash" (a webmaster threw it away on purpose).
_FIND_STATUSES: Final = "publish,future,draft,pending,private"
_POST_FIELDS: Final = "id,link,status,slug"
_MEDIA_FIELDS: Final = "id,slug,source_url,alt_text,caption,mime_type,media_details"
# Media upload answers that mean "the site will not take this file"; WordPress reports a
# refused file type as HTTP 500 rest_upload_sideload_error, which is not worth retrying.
_FILE_REFUSED_CODES: Final = frozenset(
    {
        "rest_upload_sideload_error",
        "rest_upload_unknown_error",
        "rest_upload_file_too_big",
        "rest_upload_limited_space",
        "rest_upload_user_quota_exceeded",
        "rest_upload_no_data",
    }
)
_FILE_REFUSED_STATUS: Final = frozenset({400, 413, 415})
_EXTENSIONS: Final = {"image/jpeg": ".jpg", "video/quicktime": ".mov", "video/3gpp": ".3gp"}
_SLUG_JUNK: Final = re.compile(r"[^a-z0-9-]+")
_FILENAME_JUNK: Final = re.compile(r"[^A-Za-z0-9._-]+")
_ERROR_DETAIL_MAX: Final = 300
# Alt text and caption longer than this (URL-encoded) are not put in the upload's query
# string, which servers limit to about 8 kB; they are applied after the upload instead.
_QUERY_TEXT_MAX: Final = 3000
# The API index lists every route (160 kB on a bare site); only the namespaces matter here.
_INDEX_PARAMS: Final = {"_fields": "namespaces"}


def post_slug(key: str) -> str:
    """The post slug for an idempotency key: what WordPress would keep of it unchanged."""
    slug = _SLUG_JUNK.sub("-", key.lower()).strip("-")
    if not slug:
        raise ValueError(f"idempotency key {key!r} has no usable characters for a slug")
    return slug


def media_slug(key: str, sha256: str) -> str:
    """The media slug for one file of an item (the same file in the same item, same slug)."""
    return f"{post_slug(key)}-{sha256[:12]}"


def _ascii_filename(media: MediaFile, fallback_stem: str) -> str:
    """A file name for Content-Disposition: ASCII (WordPress reads only ``filename=``) and
    with the extension WordPress expects for the MIME type, or it refuses the upload."""
    stem, dot, ext = media.filename.rpartition(".")
    if not dot:
        stem, ext = media.filename, ""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    ascii_stem = _FILENAME_JUNK.sub("-", ascii_stem).strip("-.")[:60] or fallback_stem
    wanted = _EXTENSIONS.get(media.mime) or mimetypes.guess_extension(media.mime) or ""
    if not wanted and re.fullmatch(r"[A-Za-z0-9]{1,8}", ext):
        wanted = "." + ext
    return ascii_stem + wanted.lower()


def _error_detail(response: requests.Response) -> tuple[str, str]:
    """(code, message) from a WordPress error answer, or ("", start of the body)."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:_ERROR_DETAIL_MAX].strip()
    if isinstance(body, dict):
        return str(body.get("code", "")), str(body.get("message", ""))[:_ERROR_DETAIL_MAX]
    return "", ""


def _parse_json(response: requests.Response, what: str) -> Any:  # Any: decoded JSON
    try:
        return response.json()
    except ValueError:
        pass
    # Sites with display_errors on print PHP notices before the JSON; the answer is still good.
    if "json" in response.headers.get("Content-Type", ""):
        text = response.text
        starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
        if starts:
            try:
                return json.JSONDecoder().raw_decode(text, min(starts))[0]
            except ValueError:
                pass
    raise PublishError(
        f"{what}: answer is not JSON (is the URL a WordPress site?)",
        retryable=False,
        config_problem=True,
        status_code=response.status_code,
    )


@dataclass(frozen=True)
class _Uploaded:
    """A file as WordPress has it."""

    file: MediaFile
    remote_id: int
    url: str  # the size to show in posts ("large" when WordPress made one)


class WordPressAdapter:
    """Publishes items as WordPress posts. See the module docstring."""

    name = "wordpress"

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        post_status: str | None = None,
        timeout: float = 30.0,
        upload_timeout: float = 300.0,
        create_missing_terms: bool = True,
        rest_route_form: bool | None = None,
        gallery_includes_cover: bool = True,
        withdrawn_status: str = "draft",
        session: requests.Session | None = None,
    ) -> None:
        """
        base_url: the site's address, e.g. ``https://kecamatan.example.go.id`` (a trailing
            ``/wp-json`` is tolerated). username/password: a WordPress user and one of its
            Application Passwords (spaces allowed).
        post_status: when set, every post gets this status instead of the request's (e.g.
            ``"pending"`` for a site whose webmaster publishes by hand).
        timeout: seconds for API calls; upload_timeout: seconds to wait for a media upload.
        create_missing_terms: create a category or tag that does not exist yet; otherwise
            publish without it and say so in the result's warnings.
        rest_route_form: True for ``?rest_route=`` URLs, False for ``/wp-json/``, None to try
            ``/wp-json/`` and fall back when the site answers 404 there.
        gallery_includes_cover: show the featured photo in the gallery too (themes differ in
            whether they show the featured image on the post page).
        withdrawn_status: what a taken-down post becomes, ``"draft"`` or ``"private"``
            (never deleted: the office keeps the record, and a correction may bring it back).
        """
        if withdrawn_status not in ("draft", "private"):
            raise ValueError('withdrawn_status must be "draft" or "private"')
        self._withdrawn_status = withdrawn_status
        self._root = re.sub(r"/wp-json/?$", "", base_url.strip().rstrip("/"))
        self._auth = (username, password)
        self._post_status = post_status
        self._timeout = timeout
        self._upload_timeout = upload_timeout
        self._create_terms = create_missing_terms
        self._query_form = rest_route_form
        self._gallery_includes_cover = gallery_includes_cover
        self._session = session or requests.Session()
        self._term_ids: dict[tuple[str, str], int] = {}

    def __repr__(self) -> str:  # no password in logs or tracebacks
        return f"WordPressAdapter({self._root!r}, user={self._auth[0]!r})"

    # --- the Adapter interface ----------------------------------------------------------------

    def check(self) -> None:
        """Authenticated GET of the user; also checks it may upload files and write posts."""
        me = self._get_json("/wp/v2/users/me", {"context": "edit", "_fields": "id,capabilities"})
        caps = me.get("capabilities") or {}
        needed = ["upload_files", "edit_posts"]
        if (self._post_status or "publish") in ("publish", "future"):
            needed.append("publish_posts")
        missing = [cap for cap in needed if not caps.get(cap)]
        if missing:
            raise PublishError(
                f"WordPress user {self._auth[0]!r} lacks capabilities: {', '.join(missing)}",
                retryable=False,
                config_problem=True,
            )

    def find_published(self, key: str) -> PublishResult | None:
        params = {
            "slug": post_slug(key),
            "status": _FIND_STATUSES,
            "context": "edit",
            "_fields": _POST_FIELDS,
            "orderby": "id",
            "order": "asc",
        }
        response = self._call("GET", "/wp/v2/posts", params=params, accept={400})
        if response.status_code == 400:
            # WordPress treats a rejected Application Password as an anonymous visitor, and
            # anonymous visitors may not list unpublished posts: it answers 400, not 401.
            code, message = _error_detail(response)
            raise PublishError(
                "GET /wp/v2/posts: not allowed to list unpublished posts; credentials rejected "
                f"or the user cannot edit posts ({code}: {message})",
                retryable=False,
                config_problem=True,
                status_code=400,
            )
        posts = _parse_json(response, "GET /wp/v2/posts")
        if not isinstance(posts, list) or not posts:
            return None
        if len(posts) > 1:
            log.warning("wordpress: %d posts with slug %s; using the first", len(posts), key)
        return PublishResult(remote_id=str(posts[0]["id"]), url=str(posts[0]["link"]))

    def publish(self, request: PublishRequest) -> PublishResult:
        existing = self.find_published(request.idempotency_key)
        if existing is not None:
            log.info(
                "wordpress: %s already published as %s", request.idempotency_key, existing.remote_id
            )
            return existing
        warnings: list[str] = []
        categories = self._term_ids_for("categories", _present([request.category]), warnings)
        tags = self._term_ids_for("tags", _present(request.tags), warnings)
        uploaded = self._ensure_media(request.idempotency_key, request.media, warnings)
        cover = uploaded.get(request.cover_sha256 or "")
        payload = self._post_payload(request, uploaded.values(), cover, categories, tags)
        post = self._post_json("/wp/v2/posts", payload)
        self._verify_post(post, payload, warnings)
        log.info("wordpress: %s published as post %s", request.idempotency_key, post["id"])
        return PublishResult(str(post["id"]), str(post["link"]), tuple(warnings))

    def update(self, remote_id: str, request: PublishRequest) -> PublishResult:
        warnings: list[str] = []
        post_id = _post_id(remote_id)
        categories = self._term_ids_for("categories", _present([request.category]), warnings)
        tags = self._term_ids_for("tags", _present(request.tags), warnings)
        uploaded = self._ensure_media(request.idempotency_key, request.media, warnings)
        cover = uploaded.get(request.cover_sha256 or "")
        payload = self._post_payload(request, uploaded.values(), cover, categories, tags)
        # A post without a cover or terms any more must lose them, not keep the old ones.
        payload.setdefault("featured_media", 0)
        payload.setdefault("categories", [])
        payload.setdefault("tags", [])
        post = self._post_json(f"/wp/v2/posts/{post_id}", payload)
        self._verify_post(post, payload, warnings)
        log.info("wordpress: post %s updated (%s, revision %d)", post_id,
                 request.idempotency_key, request.revision)
        return PublishResult(str(post["id"]), str(post["link"]), tuple(warnings))

    def withdraw(self, remote_id: str, request: PublishRequest) -> None:
        post_id = _post_id(remote_id)
        post = self._post_json(f"/wp/v2/posts/{post_id}", {"status": self._withdrawn_status})
        if post.get("status") not in ("draft", "private"):
            raise PublishError(f"post {post_id} is still {post.get('status')!r} after "
                               "the take-down", retryable=True)
        log.info("wordpress: post %s withdrawn (%s)", post_id, self._withdrawn_status)

    # --- the post ------------------------------------------------------------------------------

    def _post_payload(
        self,
        request: PublishRequest,
        uploaded: Iterable[_Uploaded],
        cover: _Uploaded | None,
        categories: list[int],
        tags: list[int],
    ) -> JSON:
        shown = [
            _embedded(u)
            for u in uploaded
            if self._gallery_includes_cover or u is not cover or u.file.kind != MediaKind.PHOTO
        ]
        status = self._post_status or request.status
        payload: JSON = {
            "slug": post_slug(request.idempotency_key),
            "status": status,
            # WordPress prints titles and excerpts without escaping (they may hold HTML), and
            # runs shortcodes; users' text must arrive as text.
            "title": html.escape(request.title, quote=False),
            "excerpt": escape_text(request.excerpt),
            "content": post_html(request.body, shown, request.corrections,
                                 request.body_format),
        }
        if request.publish_at is not None and request.status == "future":
            # date_gmt without an offset is read as UTC.
            utc = request.publish_at.astimezone(UTC).replace(tzinfo=None, microsecond=0)
            payload["date_gmt"] = utc.isoformat()
        if cover is not None:
            payload["featured_media"] = cover.remote_id
        if categories:
            payload["categories"] = categories
        if tags:
            payload["tags"] = tags
        return payload

    def _verify_post(self, post: JSON, payload: JSON, warnings: list[str]) -> None:
        """WordPress answers 201 even when it dropped an unusable featured image or term id."""
        wanted_cover = payload.get("featured_media")
        if wanted_cover and post.get("featured_media") != wanted_cover:
            # One more try: the attachment may not have been ready when the post was made.
            post = self._post_json(f"/wp/v2/posts/{post['id']}", {"featured_media": wanted_cover})
            if post.get("featured_media") != wanted_cover:
                warnings.append(f"featured image {wanted_cover} was not accepted by the site")
        for field in ("categories", "tags"):
            lost = set(payload.get(field, ())) - set(post.get(field) or ())
            if lost:
                warnings.append(f"site dropped {field} {sorted(lost)}")
        if payload["status"] == "future" and post.get("status") == "publish":
            warnings.append("scheduled time had already passed; published immediately")

    # --- terms -------------------------------------------------------------------------------

    def _term_ids_for(self, taxonomy: str, names: list[str], warnings: list[str]) -> list[int]:
        ids = []
        for name in names:
            term_id = self._term_id(taxonomy, name, warnings)
            if term_id is not None and term_id not in ids:
                ids.append(term_id)
        return ids

    def _term_id(self, taxonomy: str, name: str, warnings: list[str]) -> int | None:
        cache_key = (taxonomy, name.casefold())
        if cache_key in self._term_ids:
            return self._term_ids[cache_key]
        term_id = self._find_term(taxonomy, name)
        if term_id is None:
            if not self._create_terms:
                warnings.append(f"{taxonomy} {name!r} does not exist on the site; left out")
                return None
            term_id = self._create_term(taxonomy, name, warnings)
        if term_id is not None:
            self._term_ids[cache_key] = term_id
        return term_id

    def _find_term(self, taxonomy: str, name: str) -> int | None:
        terms = self._get_json(
            f"/wp/v2/{taxonomy}", {"search": name, "per_page": 100, "_fields": "id,name"}
        )
        for term in terms if isinstance(terms, list) else []:
            # WordPress returns names HTML-escaped ("A &amp; B").
            if html.unescape(str(term.get("name", ""))).strip().casefold() == name.casefold():
                return int(term["id"])
        return None

    def _create_term(self, taxonomy: str, name: str, warnings: list[str]) -> int | None:
        what = f"POST /wp/v2/{taxonomy}"
        response = self._call(
            "POST", f"/wp/v2/{taxonomy}", json={"name": html.escape(name, quote=False)},
            accept={400, 403},
        )  # fmt: skip
        if response.status_code == 403:
            # Authors may use terms but not create them; the post is still worth publishing.
            warnings.append(
                f"{taxonomy} {name!r} does not exist and the WordPress user may not create it "
                "(needs the Editor role); left out"
            )
            return None
        body = _parse_json(response, what)
        if response.status_code == 400:
            # Created meanwhile, or a term whose name differs only in ways search missed.
            if isinstance(body, dict) and body.get("code") == "term_exists":
                return int(body["data"]["term_id"])
            raise error_from_status(400, what, str(body)[:_ERROR_DETAIL_MAX])
        return int(body["id"])

    # --- media -------------------------------------------------------------------------------

    def _ensure_media(
        self, key: str, files: Iterable[MediaFile], warnings: list[str]
    ) -> dict[str, _Uploaded]:
        """Every file on the site, by sha256, in request order: found or uploaded."""
        unique: dict[str, MediaFile] = {}
        for file in files:
            unique.setdefault(file.sha256, file)  # the same file twice is uploaded once
        found = self._find_media(key, list(unique.values()))
        result: dict[str, _Uploaded] = {}
        for file in unique.values():
            remote = found.get(media_slug(key, file.sha256))
            if remote is None:
                remote = self._upload(key, file, warnings)
                if remote is None:
                    continue
            self._sync_media_text(remote, file)
            result[file.sha256] = _Uploaded(file, int(remote["id"]), _display_url(remote))
        return result

    def _find_media(self, key: str, files: list[MediaFile]) -> dict[str, JSON]:
        slugs = [media_slug(key, f.sha256) for f in files]
        found: dict[str, JSON] = {}
        for start in range(0, len(slugs), 50):  # keeps the URL short
            chunk = slugs[start : start + 50]
            media = self._get_json(
                "/wp/v2/media",
                {
                    "slug": ",".join(chunk),
                    "per_page": 100,
                    "context": "edit",
                    "_fields": _MEDIA_FIELDS,
                    "orderby": "id",
                    "order": "asc",
                },
            )
            for item in media if isinstance(media, list) else []:
                found.setdefault(str(item["slug"]), item)
        return found

    def _upload(self, key: str, file: MediaFile, warnings: list[str]) -> JSON | None:
        """Upload one file; None (with a warning) when the site refuses a video."""
        slug = media_slug(key, file.sha256)
        headers = {
            "Content-Type": file.mime,
            "Content-Disposition": f'attachment; filename="{_ascii_filename(file, slug)}"',
        }
        # Sent in the query string because the body is the file itself.
        params = {"slug": slug, "title": html.escape(_stem(file.filename), quote=False)}
        params.update(_media_text_params(file))
        what = f"upload {file.filename!r}"
        try:
            with file.path.open("rb") as stream:  # streamed: requests sends file objects
                response = self._call(
                    "POST",
                    "/wp/v2/media",
                    params=params,
                    data=stream,
                    headers=headers,
                    timeout=self._upload_timeout,
                    accept=_FILE_REFUSED_STATUS | {500},
                )
        except OSError as exc:
            raise PublishError(f"{what}: cannot read {file.path}: {exc}", retryable=False) from exc
        if response.status_code < 300:
            return dict(_parse_json(response, what))
        code, message = _error_detail(response)
        refused = response.status_code in _FILE_REFUSED_STATUS or code in _FILE_REFUSED_CODES
        if not refused:
            raise error_from_status(response.status_code, what, f"{code} {message}".strip())
        if file.kind == MediaKind.VIDEO:
            warnings.append(
                f"video {file.filename!r} not published: site refused {file.mime} "
                f"(HTTP {response.status_code} {code}: {message})"
            )
            return None
        raise PublishError(
            f"{what}: site refused {file.mime}: HTTP {response.status_code} {code}: {message}",
            retryable=False,
            config_problem=response.status_code == 413,
            status_code=response.status_code,
        )

    def _sync_media_text(self, remote: JSON, file: MediaFile) -> None:
        """Apply alt text and caption where the site holds other ones: media reused from an
        earlier attempt, or an upload whose texts the site did not take. No request when
        they match, as after an upload that carried them."""
        wanted = {
            field: value
            for field, value in _media_texts(file).items()
            if _raw(remote.get(field)) != value
        }
        if wanted:
            remote.update(self._post_json(f"/wp/v2/media/{remote['id']}", wanted))

    # --- HTTP ----------------------------------------------------------------------------------

    def _get_json(self, route: str, params: Query) -> Any:  # Any: decoded JSON
        return _parse_json(self._call("GET", route, params=params), f"GET {route}")

    def _post_json(self, route: str, payload: JSON) -> JSON:
        body = _parse_json(self._call("POST", route, json=payload), f"POST {route}")
        if not isinstance(body, dict) or "id" not in body:
            raise PublishError(
                f"POST {route}: unexpected answer", retryable=False, config_problem=True
            )
        return body

    def _call(
        self,
        method: str,
        route: str,
        *,
        params: Query | None = None,
        accept: frozenset[int] | set[int] = frozenset(),
        timeout: float | None = None,
        json: JSON | None = None,
        data: BinaryIO | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One request; answers other than 2xx and ``accept`` become PublishError."""
        query_form = self._api_form()
        response = self._send(
            method, route, query_form, params, timeout, json=json, data=data, headers=headers
        )
        if response.status_code in accept or 200 <= response.status_code < 300:
            return response
        raise self._error(response, f"{method} {route}")

    def _send(
        self,
        method: str,
        route: str,
        query_form: bool,
        params: Query | None,
        timeout: float | None,
        *,
        json: JSON | None = None,
        data: BinaryIO | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        if query_form:
            url, all_params = f"{self._root}/", {"rest_route": route, **(params or {})}
        else:
            url, all_params = f"{self._root}/wp-json{route}", dict(params or {})
        read_timeout = timeout or self._timeout
        try:
            response = self._session.request(
                method,
                url,
                params=all_params,
                auth=self._auth,
                allow_redirects=False,
                timeout=(min(10.0, read_timeout), read_timeout),
                json=json,
                data=data,
                headers=headers,
            )
        except requests.RequestException as exc:
            raise error_from_exception(exc, f"{method} {route}") from exc
        log.debug("wordpress: %s %s -> %s", method, route, response.status_code)
        return response

    def _error(self, response: requests.Response, what: str) -> PublishError:
        status = response.status_code
        if 300 <= status < 400:
            target = response.headers.get("Location", "?")
            return PublishError(
                f"{what}: site redirects to {target}; configure the final address "
                "(https? www?) as the WordPress URL",
                retryable=False,
                config_problem=True,
                status_code=status,
            )
        code, message = _error_detail(response)
        error = error_from_status(status, what, f"{code} {message}".strip())
        if status == 401 and self._root.startswith("http://"):
            error.reason += (
                " (note: WordPress ignores Application Passwords over plain http unless the"
                " site runs with WP_ENVIRONMENT_TYPE local)"
            )
        return error

    def _api_form(self) -> bool:
        """Whether to use ``?rest_route=``; detected once when not configured."""
        if self._query_form is not None:
            return self._query_form
        response = self._send("GET", "/", False, _INDEX_PARAMS, None)
        if response.status_code == 404 or not _is_rest_index(response):
            fallback = self._send("GET", "/", True, _INDEX_PARAMS, None)
            if not _is_rest_index(fallback):
                # A server error says the site is in trouble, not that it has no API: it
                # is reported as what it is, and retried.
                status = response.status_code
                if status in (401, 403) or 300 <= status < 400 or status >= 500:
                    raise self._error(response, "GET /wp-json/")
                raise PublishError(
                    f"no WordPress REST API at {self._root} (tried /wp-json/ and ?rest_route=/)",
                    retryable=False,
                    config_problem=True,
                    status_code=status,
                )
            self._query_form = True
        else:
            self._query_form = False
        return self._query_form


def _is_rest_index(response: requests.Response) -> bool:
    if response.status_code != 200:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "wp/v2" in (body.get("namespaces") or ())


def _post_id(remote_id: str) -> int:
    """The WordPress post id Warta stored, or an error that no retry will fix."""
    if not remote_id.isdigit():
        raise PublishError(f"no WordPress post id recorded (got {remote_id!r})", retryable=False)
    return int(remote_id)


def _present(names: Iterable[str | None]) -> list[str]:
    """Non-empty names, stripped, without repeats."""
    return list(dict.fromkeys(n.strip() for n in names if n and n.strip()))


def _stem(filename: str) -> str:
    stem, dot, _ = filename.rpartition(".")
    return stem if dot and stem else filename


def _media_texts(file: MediaFile) -> dict[str, str]:
    """The alt text (photos) and caption a file should have on the site."""
    texts = {"caption": escape_text(file.caption)}
    if file.kind == MediaKind.PHOTO:
        texts["alt_text"] = file.alt  # WordPress escapes alt attributes itself
    return texts


def _media_text_params(file: MediaFile) -> dict[str, str]:
    """Alt text and caption for the upload's query string: the non-empty ones (an empty
    caption would let WordPress take one from the photo's EXIF data), and none when they
    would make the URL too long."""
    params = {field: value for field, value in _media_texts(file).items() if value}
    if len(urlencode(params)) > _QUERY_TEXT_MAX:
        return {}
    return params


def _raw(field: object) -> str:
    """A text field from an edit-context answer: {"raw": ..., "rendered": ...} or a string."""
    return str(field.get("raw", "")) if isinstance(field, dict) else str(field or "")


def _display_url(remote: JSON) -> str:
    sizes = (remote.get("media_details") or {}).get("sizes") or {}
    large = sizes.get("large") or {}
    return str(large.get("source_url") or remote["source_url"])


def _embedded(uploaded: _Uploaded) -> Embedded:
    file = uploaded.file
    return Embedded(
        kind=file.kind,
        url=uploaded.url,
        remote_id=uploaded.remote_id,
        name=file.filename,
        alt=file.alt,
        caption=file.caption,
    )
