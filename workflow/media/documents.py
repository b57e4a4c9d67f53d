"""Structure checks for document containers: PDF, OLE2 (old Office) and ZIP (OOXML, ODF)."""

from __future__ import annotations

import logging
import struct
import zipfile
from typing import BinaryIO, Final

import olefile

from workflow.media.detected import Detected
from workflow.media.limits import MB, MediaLimits
from workflow.media.mime_types import (
    DOC,
    DOCX,
    ODP,
    ODS,
    ODT,
    OLE,
    PDF,
    PPT,
    PPTX,
    XLS,
    XLSX,
    ZIP,
)
from workflow.media.refusals import MediaRejected, broken_file
from workflow.models import MediaKind

log = logging.getLogger(__name__)

_MAX_ZIP_ENTRIES: Final = 10_000
# Below this, any ratio is harmless: small XML parts compress far better than 100:1.
_RATIO_FLOOR_BYTES: Final = 8 * MB

_OLE_STREAMS: Final[tuple[tuple[str, str], ...]] = (
    ("WordDocument", DOC),
    ("Workbook", XLS),
    ("Book", XLS),  # Excel 5/95
    ("PowerPoint Document", PPT),
)


def check_pdf(f: BinaryIO, size: int) -> Detected:
    # The header must be at offset 0 (readers tolerate it within 1 KiB; we don't, so an
    # HTML/ZIP page can't smuggle itself in as a "PDF"), and %%EOF must close the file.
    # Only whitespace/NUL padding may follow the last %%EOF: nothing can be appended.
    f.seek(max(0, size - 1024))
    tail = f.read(1024)
    end = tail.rfind(b"%%EOF")
    if end < 0 or tail[end + 5 :].strip(b" \t\r\n\f\x00"):
        raise broken_file(PDF)
    return Detected(PDF, MediaKind.DOCUMENT)


def check_ole(f: BinaryIO) -> Detected:
    f.seek(0)
    try:
        ole = olefile.OleFileIO(f)
    except Exception as exc:  # olefile raises OSError and assorted parse errors
        log.debug("OLE2 parse failed: %r", exc)
        raise broken_file(OLE) from None
    try:
        for stream, mime in _OLE_STREAMS:
            if ole.exists(stream) and ole.get_type(stream) == olefile.STGTY_STREAM:
                return Detected(mime, MediaKind.DOCUMENT)
    finally:
        ole.close()
    return Detected(OLE)


def check_zip(f: BinaryIO, size: int, limits: MediaLimits) -> Detected:
    # Count entries from the end-of-central-directory record before zipfile builds a ZipInfo
    # per entry (a 20 MB zip could otherwise hold ~400k entries).
    tail_len = min(size, 22 + 65535)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    eocd = tail.rfind(b"PK\x05\x06")
    if eocd < 0 or eocd + 22 > len(tail):
        raise broken_file(ZIP)
    (total,) = struct.unpack_from("<H", tail, eocd + 10)
    if total == 0xFFFF or total > _MAX_ZIP_ENTRIES:  # ZIP64 or absurd: no office file
        return Detected(ZIP)
    f.seek(0)
    try:
        with zipfile.ZipFile(f) as zf:
            _refuse_bomb(zf, size, limits)
            names = set(zf.namelist())
            if "mimetype" in names:
                info = zf.getinfo("mimetype")
                if info.file_size <= 100 and info.compress_type == zipfile.ZIP_STORED:
                    declared = zf.read(info).decode("ascii", "replace").strip()
                    if declared in (ODT, ODS, ODP) and "content.xml" in names:
                        return Detected(declared, MediaKind.DOCUMENT)
                    return Detected(declared or ZIP)
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
        raise broken_file(ZIP) from None
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
                return Detected(macro_mime) if macro else Detected(mime, MediaKind.DOCUMENT)
    return Detected(ZIP)


def _refuse_bomb(zf: zipfile.ZipFile, size: int, limits: MediaLimits) -> None:
    # The central directory's sizes are what a reader (the website, an office PC) would
    # inflate; we refuse from them and never inflate an entry to find out.
    inflated = sum(info.file_size for info in zf.infolist())
    ratio = inflated / max(size, 1)
    too_big = inflated > limits.max_archive_inflated_bytes
    too_dense = inflated > _RATIO_FLOOR_BYTES and ratio > limits.max_archive_ratio
    if too_big or too_dense:
        raise MediaRejected("archive_bomb", detected=ZIP, inflated_bytes=inflated,
                            ratio=round(ratio))
