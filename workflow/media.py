"""Media pipeline: type checking by content, photo normalisation, content-addressed storage.

No Telegram, no HTTP, no database here. The bot:

1. calls :func:`check_declared_size` with the size Telegram declares, *before* downloading;
2. asks :meth:`MediaStore.new_temp_path` for a temp file under ``<root>/tmp/`` and streams
   the download into it (in ``local_mode`` it copies the Bot API server's file there);
3. calls :meth:`MediaStore.store`, which always consumes (removes) that temp file and either
   returns a :class:`StoredMedia` or raises :class:`MediaRejected`.

``store()`` is synchronous and CPU bound (Pillow); call it through ``asyncio.to_thread``.

Refusals
--------
:class:`MediaRejected` carries a machine-readable ``reason_code`` (see :data:`REASON_CODES`)
and ``details``; the bot turns them into a sentence in the user's language.  Codes and their
detail keys:

``empty``                  ``kind``
``too_large``              ``kind``, ``size_bytes``, ``limit_bytes``, ``limit_mb``
``too_large_to_download``  ``kind``, ``size_bytes``, ``limit_bytes``, ``limit_mb`` (the Bot
                           API download cap, lower than the kind's own limit, is what binds)
``unsupported_type``       ``detected`` (MIME type sniffed from content, or
                           ``application/octet-stream``), ``kind`` (declared kind)
``broken_file``            ``detected``: the content claims a supported type but its
                           structure is broken/truncated (PDF without ``%%EOF``, bad ZIP, bad
                           OLE2, MP4 boxes that do not tile the file, ...)
``broken_image``           ``detected``: Pillow could not decode the image (truncated, corrupt)
``image_too_big``          ``max_pixels``, ``max_megapixels`` and, when the header could be
                           read, ``width``, ``height`` (decompression-bomb guard)

Sizes are in MiB: ``MB = 1024 * 1024`` (Telegram's "20 MB" is 20 MiB).

Type policy (content decides, names and Telegram's claims never do)
--------------------------------------------------------------------
* The first bytes select a candidate type from a small signature table (:func:`_sniff`),
  and that type's structure is then checked: Pillow decodes images; a PDF must start with
  ``%PDF-`` at offset 0 and end with ``%%EOF`` (only whitespace after it); a ZIP is accepted
  only as OOXML (``[Content_Types].xml`` plus ``word/document.xml`` / ``xl/workbook.xml`` /
  ``ppt/presentation.xml``) or ODF (a stored ``mimetype`` entry), read from the central
  directory with :mod:`zipfile`, nothing extracted, macro-enabled variants (a
  ``vbaProject.bin`` part) refused; an OLE2 compound file is accepted only when its root
  holds a ``WordDocument`` / ``Workbook`` / ``PowerPoint Document`` stream (``olefile``;
  MSI installers, Outlook messages and password-protected OOXML are OLE2 too and are
  refused); ISO-BMFF video (MP4/MOV/3GP) must have top-level boxes that tile the file
  exactly, a ``moov`` and an ``mdat`` box and at least one ``vide`` track; Matroska/WebM
  must have an EBML header with DocType ``webm``/``matroska`` followed by a Segment.
* The kind of the result comes from the content: a JPEG/PNG/WebP sent "as document" comes
  back as ``kind="photo"`` and is normalised.  The declared kind only selects the size limit
  (the same one :func:`check_declared_size` applied before download).
* Plain text, HTML, archives, executables, GIF/BMP/TIFF/HEIC are refused (``unsupported_type``).
* Polyglots: a file is judged by its leading signature only.  A JPEG with a ZIP (or anything)
  appended is accepted as a photo, because the photo is re-encoded from decoded pixels: the
  stored bytes never contain the appended data.  Documents and videos are stored as sent,
  so for them trailing data is refused: a PDF must end with ``%%EOF`` and an MP4's boxes must
  tile the file exactly, which both fail when a ZIP is appended.

Photo normalisation
-------------------
Pixel count is checked from the header before decoding (``limits.max_image_pixels``; Pillow's
own global bomb check stays on as a second net).  JPEGs use ``Image.draft`` so libjpeg decodes
at 1/2, 1/4 or 1/8 scale when that still gives at least 90 % of the target long edge (a
4000x3000 phone photo decodes straight to 2000x1500 and is not resampled again).  Then EXIF
orientation is applied (``ImageOps.exif_transpose``), transparency is composited on white,
the long edge is limited (LANCZOS), an embedded ICC profile is used to convert the pixels to
sRGB, and the result is saved as a progressive, optimised RGB JPEG with *no*
metadata at all: no EXIF/GPS, no XMP, no comment, no ICC profile (pixels are already sRGB,
which is what browsers assume for untagged images, so keeping the profile buys nothing and
it can carry device strings).  Everything becomes JPEG, transparent PNGs included: these are
news photos, and one output format keeps the website and thumbnails simple.  A JPEG
thumbnail (long edge ``limits.thumbnail_long_edge``) is stored next to it.

Storage
-------
``<root>/<sha[:2]>/<sha>.<ext>`` with ``sha`` the SHA-256 of the *stored* bytes and ``ext``
from the detected type; thumbnails ``<root>/<sha[:2]>/<sha>.thumb.jpg``.  New files are
written to a temp file in ``<root>/tmp/``, fsynced, and moved with ``os.replace`` (same file
system, atomic), so a crash never leaves a partial file at a final path.  An existing final
path means a duplicate: it is not rewritten.  Two concurrent stores of the same new content
both replace the path with identical bytes (harmless; both may report ``duplicate=False``).
Stored files get mode 0o640.  The original file name is only sanitised for display and never
used to build a path.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import math
import os
import re
import stat
import struct
import tempfile
import time
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Literal

import olefile
from PIL import Image, ImageOps

try:  # LittleCMS is in every Pillow wheel, but a source build may lack it.
    from PIL import ImageCms
except ImportError:  # pragma: no cover
    ImageCms = None  # type: ignore[assignment]

__all__ = [
    "MB",
    "REASON_CODES",
    "InvalidMediaPath",
    "MediaKind",
    "MediaLimits",
    "MediaRejected",
    "MediaStore",
    "StoredMedia",
    "check_declared_size",
    "sanitize_display_name",
]

log = logging.getLogger(__name__)

MB: Final = 1024 * 1024

MediaKind = Literal["photo", "document", "video"]
KINDS: Final[tuple[MediaKind, ...]] = ("photo", "document", "video")

REASON_CODES: Final = frozenset(
    {
        "empty",
        "too_large",
        "too_large_to_download",
        "unsupported_type",
        "broken_file",
        "broken_image",
        "image_too_big",
    }
)

# --- MIME types ---------------------------------------------------------------------------
JPEG: Final = "image/jpeg"
PNG: Final = "image/png"
WEBP: Final = "image/webp"
PDF: Final = "application/pdf"
DOC: Final = "application/msword"
DOCX: Final = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLS: Final = "application/vnd.ms-excel"
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPT: Final = "application/vnd.ms-powerpoint"
PPTX: Final = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT: Final = "application/vnd.oasis.opendocument.text"
ODS: Final = "application/vnd.oasis.opendocument.spreadsheet"
ODP: Final = "application/vnd.oasis.opendocument.presentation"
MP4: Final = "video/mp4"
MOV: Final = "video/quicktime"
GPP: Final = "video/3gpp"
GPP2: Final = "video/3gpp2"
WEBM: Final = "video/webm"
MKV: Final = "video/x-matroska"
OCTET: Final = "application/octet-stream"
ZIP: Final = "application/zip"
OLE: Final = "application/x-ole-storage"

# Extension stored for each accepted type.
_EXT: Final[dict[str, str]] = {
    JPEG: "jpg",
    PDF: "pdf",
    DOC: "doc",
    DOCX: "docx",
    XLS: "xls",
    XLSX: "xlsx",
    PPT: "ppt",
    PPTX: "pptx",
    ODT: "odt",
    ODS: "ods",
    ODP: "odp",
    MP4: "mp4",
    MOV: "mov",
    GPP: "3gp",
    GPP2: "3g2",
    WEBM: "webm",
    MKV: "mkv",
}
_PIL_FORMAT: Final[dict[str, str]] = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP"}

_CHUNK: Final = 1024 * 1024


def sha256_of(handle: BinaryIO) -> tuple[str, int]:
    """(sha256 hex, size) of what is left to read in `handle`, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
_HEAD: Final = 4096
_DRAFT_MIN_FRACTION: Final = 0.9
_MAX_ZIP_ENTRIES: Final = 10_000
_MAX_BOXES: Final = 10_000
_STORED_MODE: Final = 0o640


# --- limits, results, errors --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MediaLimits:
    """Limits and allow-lists.  Byte sizes are bytes (use :data:`MB`)."""

    max_photo_bytes: int = 10 * MB
    max_document_bytes: int = 20 * MB
    max_video_bytes: int = 50 * MB
    # getFile on the cloud Bot API serves at most 20 MB; None with a local Bot API server.
    download_limit_bytes: int | None = 20 * MB
    photo_long_edge: int = 2048
    jpeg_quality: int = 85
    thumbnail_long_edge: int = 320
    max_image_pixels: int = 40_000_000
    photo_mime_types: frozenset[str] = frozenset({JPEG, PNG, WEBP})
    document_mime_types: frozenset[str] = frozenset(
        {PDF, DOC, DOCX, XLS, XLSX, PPT, PPTX, ODT, ODS, ODP}
    )
    video_mime_types: frozenset[str] = frozenset({MP4, MOV, GPP, GPP2, WEBM, MKV})

    def __post_init__(self) -> None:
        for name in (
            "max_photo_bytes",
            "max_document_bytes",
            "max_video_bytes",
            "photo_long_edge",
            "thumbnail_long_edge",
            "max_image_pixels",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"MediaLimits.{name} must be positive")
        if self.download_limit_bytes is not None and self.download_limit_bytes <= 0:
            raise ValueError("MediaLimits.download_limit_bytes must be positive or None")
        if not 1 <= self.jpeg_quality <= 95:
            raise ValueError("MediaLimits.jpeg_quality must be between 1 and 95")
        unknown = (self.document_mime_types | self.video_mime_types) - _EXT.keys()
        unknown |= self.photo_mime_types - _PIL_FORMAT.keys()
        if unknown:
            raise ValueError(f"MediaLimits: no content check for {sorted(unknown)}")

    def max_bytes(self, kind: MediaKind) -> int:
        return {
            "photo": self.max_photo_bytes,
            "document": self.max_document_bytes,
            "video": self.max_video_bytes,
        }[_check_kind(kind)]


DEFAULT_LIMITS: Final = MediaLimits()


class MediaRejected(Exception):
    """A file refused for a reason the user should hear about (see the module docstring)."""

    def __init__(self, reason_code: str, **details: object) -> None:
        if reason_code not in REASON_CODES:
            raise ValueError(f"unknown media reason code {reason_code!r}")
        super().__init__(reason_code, details)
        self.reason_code = reason_code
        self.details: dict[str, object] = details

    def __str__(self) -> str:
        extra = ", ".join(f"{k}={v!r}" for k, v in sorted(self.details.items()))
        return f"{self.reason_code}({extra})"


class InvalidMediaPath(ValueError):
    """A relative media path that is malformed or would escape the media root."""


@dataclass(frozen=True, slots=True)
class StoredMedia:
    kind: MediaKind
    sha256: str  # of the stored bytes
    relative_path: str  # POSIX, relative to the media root
    mime: str  # of the stored bytes, from content
    size: int  # of the stored bytes
    display_name: str | None  # sanitised original name: for display only, never a path
    duplicate: bool  # the same bytes were already stored
    width: int | None = None  # photos
    height: int | None = None  # photos
    thumbnail_path: str | None = None  # photos, relative to the media root


def _check_kind(kind: str) -> MediaKind:
    if kind not in KINDS:
        raise ValueError(f"unknown media kind {kind!r}")
    return kind


def _mb(n: int) -> float:
    return round(n / MB, 1)


def check_declared_size(
    kind: str, declared_bytes: int | None, limits: MediaLimits = DEFAULT_LIMITS
) -> None:
    """Refuse, before downloading, a file whose declared size is over the limit.

    ``declared_bytes`` None (Telegram did not say) passes; ``store()`` checks the real size.
    Raises ``MediaRejected("too_large" | "too_large_to_download", ...)``.
    """
    k = _check_kind(kind)
    if declared_bytes is None:
        return
    own = limits.max_bytes(k)
    cap = limits.download_limit_bytes
    if cap is not None and cap < own and declared_bytes > cap:
        raise MediaRejected(
            "too_large_to_download",
            kind=k,
            size_bytes=declared_bytes,
            limit_bytes=cap,
            limit_mb=_mb(cap),
        )
    if declared_bytes > own:
        raise MediaRejected(
            "too_large", kind=k, size_bytes=declared_bytes, limit_bytes=own, limit_mb=_mb(own)
        )


# --- display names ------------------------------------------------------------------------
_DROP_CATEGORIES: Final = frozenset({"Cf", "Cs", "Co", "Cn"})
_SPACE_CATEGORIES: Final = frozenset({"Cc", "Zl", "Zp", "Zs"})
_KEEP_FORMAT: Final = frozenset({"\u200c", "\u200d"})  # ZWNJ/ZWJ: scripts and emoji need them


def sanitize_display_name(name: str | None, max_length: int = 120) -> str | None:
    """A file name fit for display: last path component, no control/bidi/format characters,
    whitespace collapsed, NFC, at most ``max_length`` characters (extension kept).

    Unicode letters are kept.  Returns None when nothing is left.  Never use it as a path.
    """
    if not name:
        return None
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    out = []
    for ch in name:
        cat = unicodedata.category(ch)
        if cat in _SPACE_CATEGORIES:
            out.append(" ")
        elif cat in _DROP_CATEGORIES and ch not in _KEEP_FORMAT:
            continue
        else:
            out.append(ch)
    cleaned = " ".join("".join(out).split()).strip(" .")
    if not cleaned:
        return None
    if len(cleaned) > max_length:
        stem, dot, ext = cleaned.rpartition(".")
        if dot and stem and 0 < len(ext) <= 10 and len(ext) + 2 < max_length:
            cleaned = stem[: max_length - len(ext) - 2].rstrip() + "…." + ext
        else:
            cleaned = cleaned[: max_length - 1].rstrip() + "…"
    return cleaned


# --- content sniffing ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Detected:
    mime: str
    family: Literal["image", "document", "video", "other"]


_OTHER_SIGNATURES: Final[tuple[tuple[bytes, str], ...]] = (
    # Only used to name what was refused (the "detected" detail).
    (b"MZ", "application/x-msdownload"),  # Windows PE / DOS executable
    (b"\x7fELF", "application/x-executable"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"\x1f\x8b", "application/gzip"),
    (b"PK\x05\x06", ZIP),  # empty ZIP
    (b"{\\rtf", "application/rtf"),
    (b"#!", "text/x-shellscript"),
)
_ISO_IMAGE_BRANDS: Final[dict[bytes, str]] = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"hevc": "image/heic-sequence",
    b"hevx": "image/heic-sequence",
    b"mif1": "image/heif",
    b"msf1": "image/heif-sequence",
    b"avif": "image/avif",
    b"avis": "image/avif",
}
_ISO_AUDIO_BRANDS: Final = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})


def _broken(mime: str) -> MediaRejected:
    return MediaRejected("broken_file", detected=mime)


def _sniff(f: BinaryIO, size: int) -> _Detected:
    """Detect the type from content and check its structure (not for images: Pillow does)."""
    f.seek(0)
    head = f.read(_HEAD)
    # Images: decoded (and so validated) by Pillow later.
    if head.startswith(b"\xff\xd8\xff"):
        return _Detected(JPEG, "image")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _Detected(PNG, "image")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _Detected(WEBP, "image")
    if head.startswith(b"%PDF-"):
        return _check_pdf(f, size)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # OLE2 compound file
        return _check_ole(f)
    if head.startswith(b"PK\x03\x04"):
        return _check_zip(f, size)
    if head[4:8] == b"ftyp":
        return _check_iso_bmff(f, size, head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML
        return _check_ebml(head)
    for sig, mime in _OTHER_SIGNATURES:
        if head.startswith(sig):
            return _Detected(mime, "other")
    return _Detected(_guess_text(head), "other")


def _guess_text(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<script")):
        return "text/html"
    if text.startswith(b"<?xml") or text.startswith(b"<svg"):
        return "image/svg+xml" if b"<svg" in text else "application/xml"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multibyte char cut at the end
            return OCTET
    return "text/plain" if b"\x00" not in head else OCTET


def _check_pdf(f: BinaryIO, size: int) -> _Detected:
    # The header must be at offset 0 (readers tolerate it within 1 KiB; we don't, so an
    # HTML/ZIP page can't smuggle itself in as a "PDF"), and %%EOF must close the file.
    # Only whitespace/NUL padding may follow the last %%EOF: nothing can be appended.
    f.seek(max(0, size - 1024))
    tail = f.read(1024)
    end = tail.rfind(b"%%EOF")
    if end < 0 or tail[end + 5 :].strip(b" \t\r\n\f\x00"):
        raise _broken(PDF)
    return _Detected(PDF, "document")


_OLE_STREAMS: Final[tuple[tuple[str, str], ...]] = (
    ("WordDocument", DOC),
    ("Workbook", XLS),
    ("Book", XLS),  # Excel 5/95
    ("PowerPoint Document", PPT),
)


def _check_ole(f: BinaryIO) -> _Detected:
    f.seek(0)
    try:
        ole = olefile.OleFileIO(f)
    except Exception as exc:  # olefile raises OSError and assorted parse errors
        log.debug("OLE2 parse failed: %r", exc)
        raise _broken(OLE) from None
    try:
        for stream, mime in _OLE_STREAMS:
            if ole.exists(stream) and ole.get_type(stream) == olefile.STGTY_STREAM:
                return _Detected(mime, "document")
    finally:
        ole.close()
    return _Detected(OLE, "other")


def _check_zip(f: BinaryIO, size: int) -> _Detected:
    # Count entries from the end-of-central-directory record before zipfile builds a ZipInfo
    # per entry (a 20 MB zip could otherwise hold ~400k entries).
    tail_len = min(size, 22 + 65535)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    eocd = tail.rfind(b"PK\x05\x06")
    if eocd < 0 or eocd + 22 > len(tail):
        raise _broken(ZIP)
    (total,) = struct.unpack_from("<H", tail, eocd + 10)
    if total == 0xFFFF or total > _MAX_ZIP_ENTRIES:  # ZIP64 or absurd: no office file
        return _Detected(ZIP, "other")
    f.seek(0)
    try:
        with zipfile.ZipFile(f) as zf:
            names = set(zf.namelist())
            if "mimetype" in names:
                info = zf.getinfo("mimetype")
                if info.file_size <= 100 and info.compress_type == zipfile.ZIP_STORED:
                    declared = zf.read(info).decode("ascii", "replace").strip()
                    if declared in (ODT, ODS, ODP) and "content.xml" in names:
                        return _Detected(declared, "document")
                    return _Detected(declared or ZIP, "other")
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        ValueError,
        RuntimeError,  # encrypted entry
        NotImplementedError,  # unsupported compression
    ) as exc:
        log.debug("ZIP parse failed: %r", exc)
        raise _broken(ZIP) from None
    if "[Content_Types].xml" in names:
        macro = any(n.endswith("vbaProject.bin") for n in names)
        for part, mime, macro_mime in (
            ("word/document.xml", DOCX, "application/vnd.ms-word.document.macroEnabled.12"),
            ("xl/workbook.xml", XLSX, "application/vnd.ms-excel.sheet.macroEnabled.12"),
            (
                "ppt/presentation.xml",
                PPTX,
                "application/vnd.ms-powerpoint.presentation.macroEnabled.12",
            ),
        ):
            if part in names:
                return _Detected(macro_mime, "other") if macro else _Detected(mime, "document")
    return _Detected(ZIP, "other")


def _iter_boxes(
    f: BinaryIO, start: int, end: int, budget: list[int]
) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload_start, box_end) of the ISO-BMFF boxes in [start, end).

    Raises ``_broken(MP4)`` unless the boxes tile the range exactly.
    """
    pos = start
    while pos < end:
        budget[0] -= 1
        if budget[0] < 0 or end - pos < 8:
            raise _broken(MP4)
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) < 8:
            raise _broken(MP4)
        box_size, box_type = struct.unpack(">I4s", hdr)
        payload = pos + 8
        if box_size == 1:
            ext = f.read(8)
            if len(ext) < 8:
                raise _broken(MP4)
            (box_size,) = struct.unpack(">Q", ext)
            payload += 8
        elif box_size == 0:  # extends to the end of the enclosing range
            box_size = end - pos
        if box_size < payload - pos or pos + box_size > end:
            raise _broken(MP4)
        yield box_type, payload, pos + box_size
        pos += box_size


def _check_iso_bmff(f: BinaryIO, size: int, head: bytes) -> _Detected:
    (ftyp_size,) = struct.unpack(">I", head[:4])
    if not 16 <= ftyp_size <= min(len(head), size):
        raise _broken(MP4)
    major = head[8:12]
    if major in _ISO_IMAGE_BRANDS:
        return _Detected(_ISO_IMAGE_BRANDS[major], "other")
    if major in _ISO_AUDIO_BRANDS:
        return _Detected("audio/mp4", "other")
    if major == b"qt  ":
        mime = MOV
    elif major.startswith(b"3g2"):
        mime = GPP2
    elif major.startswith((b"3gp", b"3gg", b"3gs", b"3ge", b"3gr")):
        mime = GPP
    else:
        mime = MP4
    budget = [_MAX_BOXES]
    top: dict[bytes, tuple[int, int]] = {}
    for box_type, payload, box_end in _iter_boxes(f, 0, size, budget):
        if not all(0x20 <= c <= 0x7E for c in box_type):
            raise _broken(mime)
        top.setdefault(box_type, (payload, box_end))
    if b"moov" not in top or b"mdat" not in top:
        raise _broken(mime)
    handlers: set[bytes] = set()
    moov_start, moov_end = top[b"moov"]
    for t, p, e in _iter_boxes(f, moov_start, moov_end, budget):
        if t != b"trak":
            continue
        for t2, p2, e2 in _iter_boxes(f, p, e, budget):
            if t2 != b"mdia":
                continue
            for t3, p3, e3 in _iter_boxes(f, p2, e2, budget):
                if t3 == b"hdlr" and e3 - p3 >= 12:
                    f.seek(p3 + 8)  # version/flags, pre_defined, then handler_type
                    handlers.add(f.read(4))
    if b"vide" not in handlers:
        if b"soun" in handlers:
            return _Detected("audio/mp4", "other")
        raise _broken(mime)
    return _Detected(mime, "video")


def _ebml_vint(buf: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    """Read an EBML variable-length integer; return (value, new_pos)."""
    if pos >= len(buf) or buf[pos] == 0:
        raise _broken(MKV)
    first = buf[pos]
    length = 8 - first.bit_length() + 1
    if pos + length > len(buf):
        raise _broken(MKV)
    value = first if keep_marker else first & (0xFF >> length)
    for b in buf[pos + 1 : pos + length]:
        value = (value << 8) | b
    return value, pos + length


def _check_ebml(head: bytes) -> _Detected:
    element_id, pos = _ebml_vint(head, 0, keep_marker=True)
    if element_id != 0x1A45DFA3:
        raise _broken(MKV)
    header_size, pos = _ebml_vint(head, pos, keep_marker=False)
    header_end = pos + header_size
    if header_end > len(head):
        raise _broken(MKV)
    doctype = b""
    while pos < header_end:
        child_id, pos = _ebml_vint(head, pos, keep_marker=True)
        child_size, pos = _ebml_vint(head, pos, keep_marker=False)
        if pos + child_size > header_end:
            raise _broken(MKV)
        if child_id == 0x4282:
            doctype = head[pos : pos + child_size].rstrip(b"\x00")
        pos += child_size
    segment_id, _ = _ebml_vint(head, header_end, keep_marker=True)
    mime = {b"webm": WEBM, b"matroska": MKV}.get(doctype)
    if mime is None:
        return _Detected("application/x-ebml", "other")
    if segment_id != 0x18538067:
        raise _broken(mime)
    return _Detected(mime, "video")


# --- photo normalisation ------------------------------------------------------------------
@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB pixels in sRGB: convert through the embedded ICC profile when there is one."""
    if icc and ImageCms is not None:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(img, src, _srgb_profile(), outputMode="RGB")
            if out is not None:
                return out
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
            # A broken or mismatched profile (e.g. a CMYK profile on an RGB image): ignore it.
            log.debug("ICC conversion failed, using plain conversion: %r", exc)
    return img if img.mode == "RGB" else img.convert("RGB")


def _flatten(img: Image.Image) -> Image.Image:
    """Bring any Pillow mode to RGB, L or CMYK; transparency composited on white."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode in ("LA", "La", "PA", "RGBa"):
        img = img.convert("RGBA")
    elif img.mode == "1":
        img = img.convert("L")
    elif img.mode.startswith("I") or img.mode == "F":  # 16/32-bit greyscale
        img = img.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    elif img.mode == "RGB" and "transparency" in img.info:
        img = img.convert("RGBA")
    elif img.mode == "L" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    if img.mode not in ("RGB", "L", "CMYK"):
        img = img.convert("RGB")
    return img


def _fit(width: int, height: int, long_edge: int) -> tuple[int, int]:
    scale = long_edge / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _decode_photo(path: Path, mime: str, limits: MediaLimits, use_draft: bool) -> Image.Image:
    """Decode, bomb-check, orient, flatten and downscale a photo; return an RGB image."""
    max_px = limits.max_image_pixels
    too_big = {"max_pixels": max_px, "max_megapixels": round(max_px / 1_000_000, 1)}
    try:
        with path.open("rb") as f, Image.open(f, formats=[_PIL_FORMAT[mime]]) as img:
            width, height = img.size
            if width * height > max_px:
                raise MediaRejected("image_too_big", width=width, height=height, **too_big)
            icc = img.info.get("icc_profile")
            target = limits.photo_long_edge
            if use_draft and mime == JPEG and max(width, height) > target:
                want = math.ceil(target * _DRAFT_MIN_FRACTION) / max(width, height)
                img.draft("RGB", (math.ceil(width * want), math.ceil(height * want)))
            img.load()
            ImageOps.exif_transpose(img, in_place=True)
            out = _flatten(img)
            if max(out.size) > target:
                out = out.resize(
                    _fit(*out.size, target), Image.Resampling.LANCZOS, reducing_gap=2.0
                )
            out = _to_srgb(out, icc if isinstance(icc, bytes) else None)
            if out is img:
                out = img.copy()
    except MediaRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's global check fired first (over 2x/1x Image.MAX_IMAGE_PIXELS); when warnings
        # are errors the warning arrives as an exception too.
        raise MediaRejected("image_too_big", **too_big) from None
    except Exception as exc:
        # Hostile input: any decoder failure (OSError "truncated", SyntaxError, ValueError,
        # struct.error, ...) means the image is unusable.
        log.debug("image decode failed: %r", exc)
        raise MediaRejected("broken_image", detected=mime) from None
    out.info.clear()  # JPEG save falls back to info["comment"]; keep nothing
    return out


# --- the store ----------------------------------------------------------------------------
_REL_PATH = re.compile(r"([0-9a-f]{2})/([0-9a-f]{64})(?:\.thumb)?\.[a-z0-9]{1,5}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quiet(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class MediaStore:
    """Content-addressed media storage under ``root`` (see the module docstring)."""

    def __init__(
        self, root: Path, limits: MediaLimits = DEFAULT_LIMITS, *, use_jpeg_draft: bool = True
    ) -> None:
        self.root = Path(root).resolve()
        self.limits = limits
        self.use_jpeg_draft = use_jpeg_draft
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True, mode=0o750)

    # -- temp files ------------------------------------------------------------------------
    def new_temp_path(self) -> Path:
        """A new, empty, uniquely named file in ``<root>/tmp/`` to download into."""
        fd, name = tempfile.mkstemp(prefix="in-", suffix=".part", dir=self.tmp_dir)
        os.close(fd)
        return Path(name)

    def discard_temp(self, temp_path: Path) -> None:
        """Remove a temp file (e.g. after a failed download); ignores paths outside tmp/."""
        path = Path(temp_path)
        if path.parent.resolve() == self.tmp_dir and not path.is_symlink():
            _unlink_quiet(path)

    def cleanup_stale_temp(self, older_than_seconds: float = 3600.0) -> int:
        """Remove temp files left by a crash; returns how many were removed."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in os.scandir(self.tmp_dir):
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
        return removed

    def check_declared_size(self, kind: str, declared_bytes: int | None) -> None:
        check_declared_size(kind, declared_bytes, self.limits)

    # -- lookup ----------------------------------------------------------------------------
    def open_stored(self, relative_path: str) -> Path:
        """The absolute path of a stored file; refuses anything that is not a stored-file
        path under the root (``InvalidMediaPath``) and missing files (``FileNotFoundError``).
        """
        m = _REL_PATH.fullmatch(relative_path) if isinstance(relative_path, str) else None
        if m is None or not m.group(2).startswith(m.group(1)):
            raise InvalidMediaPath(f"not a stored media path: {relative_path!r}")
        resolved = (self.root / relative_path).resolve()
        if resolved.parent != self.root / m.group(1):  # a symlinked folder or file
            raise InvalidMediaPath(f"media path escapes the media root: {relative_path!r}")
        if not resolved.is_file():
            raise FileNotFoundError(relative_path)
        return resolved

    # -- store -----------------------------------------------------------------------------
    def store(
        self, temp_path: Path, declared_kind: str, original_name: str | None = None
    ) -> StoredMedia:
        """Check, normalise and store a downloaded file; the temp file is always removed.

        ``temp_path`` must be a regular file directly in ``<root>/tmp/`` (from
        :meth:`new_temp_path`), else ``ValueError`` (and it is left alone).  An unknown
        ``declared_kind`` is a ``ValueError`` too (the temp file is removed).
        Raises :class:`MediaRejected` for files the user must be told about.
        """
        src = Path(temp_path)
        if src.parent.resolve() != self.tmp_dir:
            raise ValueError(f"temp file must be in {self.tmp_dir}: {src}")
        try:
            kind = _check_kind(declared_kind)
            st = src.lstat()
            if not stat.S_ISREG(st.st_mode):
                raise ValueError(f"temp path is not a regular file: {src}")
            return self._store(src, st.st_size, kind, sanitize_display_name(original_name))
        finally:
            _unlink_quiet(src)

    def _store(
        self, src: Path, size: int, kind: MediaKind, display_name: str | None
    ) -> StoredMedia:
        if size == 0:
            raise MediaRejected("empty", kind=kind)
        limit = self.limits.max_bytes(kind)
        if size > limit:
            raise MediaRejected(
                "too_large", kind=kind, size_bytes=size, limit_bytes=limit, limit_mb=_mb(limit)
            )
        with src.open("rb") as f:
            detected = _sniff(f, size)
        allowed = {
            "image": self.limits.photo_mime_types,
            "document": self.limits.document_mime_types,
            "video": self.limits.video_mime_types,
            "other": frozenset[str](),
        }[detected.family]
        if detected.mime not in allowed:
            raise MediaRejected("unsupported_type", detected=detected.mime, kind=kind)
        if detected.family == "image":
            return self._store_photo(src, detected.mime, display_name)
        return self._store_file(src, detected, display_name)

    def _final(self, sha: str, suffix: str) -> tuple[str, Path]:
        rel = f"{sha[:2]}/{sha}.{suffix}"
        return rel, self.root / sha[:2] / f"{sha}.{suffix}"

    def _install(self, tmp: Path, final: Path) -> None:
        """fsync'd temp file → final path, atomically."""
        os.chmod(tmp, _STORED_MODE)
        final.parent.mkdir(mode=0o750, exist_ok=True)
        os.replace(tmp, final)
        _fsync_dir(final.parent)

    def _store_file(self, src: Path, detected: _Detected, display_name: str | None) -> StoredMedia:
        with src.open("rb") as f:
            sha, size = sha256_of(f)
            os.fsync(f.fileno())  # the bot's writes reach the disk before the rename
        rel, final = self._final(sha, _EXT[detected.mime])
        duplicate = final.exists()
        if not duplicate:
            self._install(src, final)
        kind: MediaKind = "video" if detected.family == "video" else "document"
        return StoredMedia(
            kind=kind,
            sha256=sha,
            relative_path=rel,
            mime=detected.mime,
            size=size,
            display_name=display_name,
            duplicate=duplicate,
        )

    def _save_jpeg(self, img: Image.Image) -> Path:
        fd, name = tempfile.mkstemp(prefix="out-", suffix=".jpg", dir=self.tmp_dir)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as f:
                img.save(
                    f,
                    "JPEG",
                    quality=self.limits.jpeg_quality,
                    optimize=True,
                    progressive=True,
                )
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            _unlink_quiet(tmp)
            raise
        return tmp

    def _store_photo(self, src: Path, mime: str, display_name: str | None) -> StoredMedia:
        img = _decode_photo(src, mime, self.limits, self.use_jpeg_draft)
        tmp = self._save_jpeg(img)
        try:
            with tmp.open("rb") as f:
                sha, size = sha256_of(f)
            rel, final = self._final(sha, "jpg")
            duplicate = final.exists()
            if not duplicate:
                self._install(tmp, final)
        finally:
            _unlink_quiet(tmp)
        thumb_rel, thumb_final = self._final(sha, "thumb.jpg")
        if not thumb_final.exists():  # also repairs a thumbnail lost after a crash
            edge = self.limits.thumbnail_long_edge
            thumb = img.copy()
            thumb.thumbnail((edge, edge), Image.Resampling.LANCZOS)
            thumb_tmp = self._save_jpeg(thumb)
            try:
                self._install(thumb_tmp, thumb_final)
            finally:
                _unlink_quiet(thumb_tmp)
        return StoredMedia(
            kind="photo",
            sha256=sha,
            relative_path=rel,
            mime=JPEG,
            size=size,
            display_name=display_name,
            duplicate=duplicate,
            width=img.width,
            height=img.height,
            thumbnail_path=thumb_rel,
        )
