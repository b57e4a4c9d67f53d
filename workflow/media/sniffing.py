"""The type policy: a file's type decided from its content, never from its name or claims.

* The first bytes select a candidate type from a small signature table (:func:`sniff`),
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
  (the same one :func:`~workflow.media.limits.check_declared_size` applied before download).
* HEIC/HEIF still photos (iPhones sending a file) are photos, decoded by pillow-heif.
* Plain text, HTML, archives, executables, GIF/BMP/TIFF, HEIC sequences and AVIF are
  refused (``unsupported_type``).
* Polyglots: a file is judged by its leading signature only.  A JPEG with a ZIP (or anything)
  appended is accepted as a photo, because the photo is re-encoded from decoded pixels: the
  stored bytes never contain the appended data.  Documents and videos are stored as sent,
  so for them trailing data is refused: a PDF must end with ``%%EOF`` and an MP4's boxes must
  tile the file exactly, which both fail when a ZIP is appended.
"""

from __future__ import annotations

from typing import BinaryIO, Final

from workflow.media.detected import Detected
from workflow.media.documents import check_ole, check_pdf, check_zip
from workflow.media.limits import DEFAULT_LIMITS, MediaLimits
from workflow.media.mime_types import JPEG, OCTET, PNG, WEBP, ZIP
from workflow.media.videos import check_ebml, check_iso_bmff
from workflow.models import MediaKind

_HEAD: Final = 4096

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


def sniff(f: BinaryIO, size: int, limits: MediaLimits = DEFAULT_LIMITS) -> Detected:
    """Detect the type from content and check its structure (not for images: Pillow does)."""
    f.seek(0)
    head = f.read(_HEAD)
    # Images: decoded (and so validated) by Pillow later.
    if head.startswith(b"\xff\xd8\xff"):
        return Detected(JPEG, MediaKind.PHOTO)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Detected(PNG, MediaKind.PHOTO)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Detected(WEBP, MediaKind.PHOTO)
    if head.startswith(b"%PDF-"):
        return check_pdf(f, size)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # OLE2 compound file
        return check_ole(f)
    if head.startswith(b"PK\x03\x04"):
        return check_zip(f, size, limits)
    if head[4:8] == b"ftyp":
        return check_iso_bmff(f, size, head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML
        return check_ebml(head)
    for sig, mime in _OTHER_SIGNATURES:
        if head.startswith(sig):
            return Detected(mime)
    return Detected(_guess_text(head))


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
