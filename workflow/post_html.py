"""The HTML of a post: safe markup from plain user text and media (the website's and previews').

Everything a user typed is escaped here, so no HTML from users reaches a page live:
``<``, ``>``, ``&`` and quotes become entities, and so do ``[`` and ``]``, because WordPress
runs shortcodes (``[gallery]``, ``[embed]``, plugin shortcodes...) on post content even when
the text around them is escaped. Block-editor comments (``<!-- wp:... -->``) are ours only;
a user's ``<!--`` arrives as ``&lt;!--``.

The markup uses core blocks (paragraph, gallery of images, file, video) so the block editor
and block themes treat it as blocks, and classic themes see plain ``<p>``/``<figure>``/``<a>``.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from workflow.models import MediaKind

if TYPE_CHECKING:
    from workflow.models import Item, Media

__all__ = ["STYLES", "Embedded", "Span", "body_html", "corrections_html", "default_caption",
           "escape_text", "photo_alt", "photo_caption", "post_html", "post_html_for_preview",
           "spans_from_json"]

_SHORTCODE_BRACKETS: Final = {ord("["): "&#91;", ord("]"): "&#93;"}
# An http(s) URL in raw user text. Quotes, angle brackets and square brackets end it, so a
# link never needs them (they would be escaped in the href anyway).
_URL: Final = re.compile(r"https?://[^\s<>\"'\[\]]+")
_ATTR_ESCAPES: Final = (
    ("--", "\\u002d\\u002d"),
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
)
# Punctuation that usually ends a sentence rather than the URL it follows.
_URL_TRAILING: Final = ".,;:!?)"


# The formatting an editor's text keeps on the website (from Telegram's message entities),
# each with the element it becomes; anything else (code, spoilers, mentions) stays plain.
STYLES: Final[dict[str, str]] = {"bold": "strong", "italic": "em", "underline": "u",
                                 "strikethrough": "s", "text_link": "a"}
_LINK_SCHEMES: Final = ("http://", "https://", "mailto:")
# A line that starts a list item: "- ", "• ", "* " (bullets) or "1. ", "2) " (numbers).
_BULLET: Final = re.compile(r"[-•*]\s+")
_NUMBERED: Final = re.compile(r"\d{1,3}[.)]\s+")


@dataclass(frozen=True)
class Span:
    """Formatting over text[start:end] (Python string offsets); `url` for links."""

    style: str
    start: int
    end: int
    url: str = ""

    def to_json(self) -> dict[str, object]:
        return {"style": self.style, "start": self.start, "end": self.end, "url": self.url}


def spans_from_json(rows: Iterable[object]) -> tuple[Span, ...]:
    """The spans stored with an item's body; anything malformed or unknown is left out."""
    spans = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        style, start, end, url = (row.get("style"), row.get("start"), row.get("end"),
                                  row.get("url", ""))
        if (style in STYLES and isinstance(start, int) and isinstance(end, int)
                and 0 <= start < end and isinstance(url, str)):
            spans.append(Span(style, start, end, url))
    return tuple(spans)


@dataclass(frozen=True)
class Embedded:
    """A media file as the website has it."""

    kind: MediaKind
    url: str  # public URL of the file
    remote_id: int | None  # the site's id for it, if any
    name: str  # human file name (link text for documents)
    alt: str = ""
    caption: str = ""


def escape_text(text: str) -> str:
    """Escape user text for HTML element content or a quoted attribute."""
    return html.escape(text, quote=True).translate(_SHORTCODE_BRACKETS)


def _line_html(line: str) -> str:
    """One line of user text: escaped, with its http(s) URLs as links."""
    out: list[str] = []
    pos = 0
    for match in _URL.finditer(line):
        url = match.group(0).rstrip(_URL_TRAILING)
        if len(url) <= len("https://"):
            continue
        out.append(escape_text(line[pos : match.start()]))
        href = escape_text(url)
        out.append(f'<a href="{href}" rel="nofollow noopener">{href}</a>')
        pos = match.start() + len(url)
    out.append(escape_text(line[pos:]))
    return "".join(out)


def _styled(text: str, start: int, end: int, spans: Sequence[Span]) -> str:
    """text[start:end] as escaped inline HTML: runs of the same formatting wrapped in their
    elements (closed and reopened where formatting changes, so elements always nest),
    links only to http(s) and mailto, and bare URLs outside links made links."""
    cuts = sorted({start, end, *(p for s in spans for p in (s.start, s.end) if start < p < end)})
    out = []
    for left, right in itertools.pairwise(cuts):
        active = [s for s in spans if s.start <= left and right <= s.end]
        link = next((s.url for s in active if s.style == "text_link"
                     and s.url.lower().startswith(_LINK_SCHEMES)), "")
        piece = text[left:right]
        inner = escape_text(piece) if link else _line_html(piece)
        for tag in sorted({STYLES[s.style] for s in active if s.style != "text_link"}):
            inner = f"<{tag}>{inner}</{tag}>"
        if link:
            inner = f'<a href="{escape_text(link)}" rel="nofollow noopener">{inner}</a>'
        out.append(inner)
    return "".join(out)


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line of `text`, without the spaces around it."""
    found, at = [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        lead = len(line) - len(line.lstrip())
        found.append((at + lead, at + lead + len(stripped)))
        at += len(line) + 1
    return found


def _list_block(text: str, lines: list[tuple[int, int]], spans: Sequence[Span]) -> str | None:
    """A paragraph whose every line is a list item, as a list block; else None."""
    for marker, tag in ((_BULLET, "ul"), (_NUMBERED, "ol")):
        found = [marker.match(text, start, end) for start, end in lines]
        if len(lines) > 1 and all(found):
            items = "".join(
                _block("list-item", f"<li>{_styled(text, m.end(), end, spans)}</li>")
                for m, (_, end) in zip(found, lines, strict=True) if m is not None)
            attrs: dict[str, object] | None = {"ordered": True} if tag == "ol" else None
            return _block("list", f'<{tag} class="wp-block-list">{items}</{tag}>', attrs)
    return None


def _block(name: str, inner: str, attrs: dict[str, object] | None = None) -> str:
    """A core block: the editor's comment delimiters around its rendered markup."""
    attr_json = json.dumps(attrs, ensure_ascii=False, separators=(",", ":"))
    # Inside an HTML comment, "--" and ">" could end it early; escape them (and the other
    # markup characters) the way the block editor serialises attributes.
    for char, escaped in _ATTR_ESCAPES:
        attr_json = attr_json.replace(char, escaped)
    opener = f"<!-- wp:{name} {attr_json} -->" if attrs else f"<!-- wp:{name} -->"
    return f"{opener}\n{inner}\n<!-- /wp:{name} -->"


def body_html(text: str, spans: Sequence[Span] = ()) -> str:
    """Paragraph blocks from the body: blank lines separate paragraphs, single newlines
    become <br>, a paragraph of "- " or "1. " lines becomes a list, and `spans` (the
    editor's bold, italic, underline, strikethrough and links) their elements."""
    text = text.replace("\r\n", " \n").replace("\r", "\n")  # keeps the spans' offsets
    blocks, paragraph = [], []
    for start, end in [*_lines(text), (0, 0)]:
        if start < end:
            paragraph.append((start, end))
            continue
        if paragraph:
            listed = _list_block(text, paragraph, spans)
            blocks.append(listed or _block("paragraph", "<p>" + "<br>".join(
                _styled(text, s, e, spans) for s, e in paragraph) + "</p>"))
        paragraph = []
    return "\n\n".join(blocks)


def _caption(text: str, class_name: str = "wp-element-caption") -> str:
    return f'<figcaption class="{class_name}">{escape_text(text)}</figcaption>' if text else ""


def _image(photo: Embedded) -> str:
    attrs: dict[str, object] = {"sizeSlug": "large", "linkDestination": "none"}
    img_class = ""
    if photo.remote_id is not None:
        attrs = {"id": photo.remote_id, **attrs}
        img_class = f' class="wp-image-{photo.remote_id}"'
    img = f'<img src="{escape_text(photo.url)}" alt="{escape_text(photo.alt)}"{img_class}/>'
    figure = f'<figure class="wp-block-image size-large">{img}{_caption(photo.caption)}</figure>'
    return _block("image", figure, attrs)


def _gallery(photos: Sequence[Embedded]) -> str:
    images = "\n\n".join(_image(p) for p in photos)
    figure = (
        '<figure class="wp-block-gallery has-nested-images columns-default is-cropped">'
        f"{images}</figure>"
    )
    return _block("gallery", figure, {"linkTo": "none"})


def _file(document: Embedded) -> str:
    url = escape_text(document.url)
    inner = f'<div class="wp-block-file"><a href="{url}">{escape_text(document.name)}</a></div>'
    attrs: dict[str, object] = {"href": document.url, "showDownloadButton": False}
    if document.remote_id is not None:
        attrs = {"id": document.remote_id, **attrs}
    return _block("file", inner, attrs)


def _video(video: Embedded) -> str:
    inner = (
        f'<figure class="wp-block-video"><video controls src="{escape_text(video.url)}">'
        f"</video>{_caption(video.caption)}</figure>"
    )
    return _block("video", inner, {"id": video.remote_id} if video.remote_id else None)


def corrections_html(corrections: Sequence[str]) -> str:
    """The dated correction notes at the end of a corrected post, as escaped paragraphs."""
    notes = "".join(f"<p>{_line_html(' '.join(note.split()))}</p>" for note in corrections)
    return _block("group", f'<div class="wp-block-group warta-ralat">{notes}</div>') \
        if notes else ""


def post_html(body: str, media: Iterable[Embedded], corrections: Sequence[str] = (),
              spans: Sequence[Span] = ()) -> str:
    """Post content: the body (with its formatting `spans`), then a gallery of the photos,
    the videos, the documents, and last any correction notes."""
    items = list(media)
    photos = [m for m in items if m.kind == MediaKind.PHOTO]
    parts = [body_html(body, spans)] if body.strip() else []
    if photos:
        parts.append(_gallery(photos))
    parts += [_video(m) for m in items if m.kind == MediaKind.VIDEO]
    parts += [_file(m) for m in items if m.kind == MediaKind.DOCUMENT]
    if corrections:
        parts.append(corrections_html(corrections))
    return "\n\n".join(parts)


def photo_alt(item: Item, media: Media) -> str:
    """A photo's alt text on the website: its own words, else the item's title."""
    return media.alt_text.strip() or item.title


def photo_caption(item: Item, media: Media) -> str:
    """The line under a photo on the website: the editor's words for it, else where and
    when the photos were taken."""
    return media.caption.strip() or default_caption(item)


def default_caption(item: Item) -> str:
    """Where and when the photos were taken (section, activity date): what the SOP collects
    that the post does not otherwise show."""
    parts = [item.section.strip()]
    if item.activity_date is not None:
        parts.append(item.activity_date.strftime("%d/%m/%Y"))
    return ", ".join(part for part in parts if part)


def post_html_for_preview(item: Item, media: Sequence[tuple[Media, str]]) -> str:
    """The post as the publisher will make it, with each file at the given local URL."""
    shown = [Embedded(kind=MediaKind(m.kind), url=url, remote_id=None,
                      name=m.original_name or m.kind,
                      alt=photo_alt(item, m) if m.kind == MediaKind.PHOTO else "",
                      caption=photo_caption(item, m) if m.kind == MediaKind.PHOTO else "")
             for m, url in media]
    return post_html(item.body, shown, spans=spans_from_json(item.body_format))
