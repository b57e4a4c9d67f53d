"""Structure checks for video containers: ISO-BMFF (MP4, MOV, 3GP) and Matroska/WebM."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO, Final

from workflow.media.detected import Detected
from workflow.media.mime_types import GPP, GPP2, HEIC, HEIF, MKV, MOV, MP4, WEBM
from workflow.media.refusals import broken_file
from workflow.models import MediaKind

_MAX_BOXES: Final = 10_000

# Still HEIC/HEIF photos (what an iPhone sends as a file): accepted and converted to JPEG.
_ISO_PHOTO_BRANDS: Final[dict[bytes, str]] = {
    b"heic": HEIC,
    b"heix": HEIC,
    b"heim": HEIC,
    b"heis": HEIC,
    b"mif1": HEIF,
}
# Other ISO-BMFF images (sequences, AVIF): named when refused.
_ISO_IMAGE_BRANDS: Final[dict[bytes, str]] = {
    b"hevc": "image/heic-sequence",
    b"hevx": "image/heic-sequence",
    b"msf1": "image/heif-sequence",
    b"avif": "image/avif",
    b"avis": "image/avif",
}
_ISO_AUDIO_BRANDS: Final = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})


def _iter_boxes(
    f: BinaryIO, start: int, end: int, budget: list[int]
) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload_start, box_end) of the ISO-BMFF boxes in [start, end).

    Raises ``broken_file(MP4)`` unless the boxes tile the range exactly.
    """
    pos = start
    while pos < end:
        budget[0] -= 1
        if budget[0] < 0 or end - pos < 8:
            raise broken_file(MP4)
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) < 8:
            raise broken_file(MP4)
        box_size, box_type = struct.unpack(">I4s", hdr)
        payload = pos + 8
        if box_size == 1:
            ext = f.read(8)
            if len(ext) < 8:
                raise broken_file(MP4)
            (box_size,) = struct.unpack(">Q", ext)
            payload += 8
        elif box_size == 0:  # extends to the end of the enclosing range
            box_size = end - pos
        if box_size < payload - pos or pos + box_size > end:
            raise broken_file(MP4)
        yield box_type, payload, pos + box_size
        pos += box_size


def check_iso_bmff(f: BinaryIO, size: int, head: bytes) -> Detected:
    (ftyp_size,) = struct.unpack(">I", head[:4])
    if not 16 <= ftyp_size <= min(len(head), size):
        raise broken_file(MP4)
    major = head[8:12]
    if major in _ISO_PHOTO_BRANDS:  # decoded, and so checked, by pillow-heif
        return Detected(_ISO_PHOTO_BRANDS[major], MediaKind.PHOTO)
    if major in _ISO_IMAGE_BRANDS:
        return Detected(_ISO_IMAGE_BRANDS[major])
    if major in _ISO_AUDIO_BRANDS:
        return Detected("audio/mp4")
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
            raise broken_file(mime)
        top.setdefault(box_type, (payload, box_end))
    if b"moov" not in top or b"mdat" not in top:
        raise broken_file(mime)
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
            return Detected("audio/mp4")
        raise broken_file(mime)
    return Detected(mime, MediaKind.VIDEO)


def _ebml_vint(buf: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    """Read an EBML variable-length integer; return (value, new_pos)."""
    if pos >= len(buf) or buf[pos] == 0:
        raise broken_file(MKV)
    first = buf[pos]
    length = 8 - first.bit_length() + 1
    if pos + length > len(buf):
        raise broken_file(MKV)
    value = first if keep_marker else first & (0xFF >> length)
    for b in buf[pos + 1 : pos + length]:
        value = (value << 8) | b
    return value, pos + length


def check_ebml(head: bytes) -> Detected:
    element_id, pos = _ebml_vint(head, 0, keep_marker=True)
    if element_id != 0x1A45DFA3:
        raise broken_file(MKV)
    header_size, pos = _ebml_vint(head, pos, keep_marker=False)
    header_end = pos + header_size
    if header_end > len(head):
        raise broken_file(MKV)
    doctype = b""
    while pos < header_end:
        child_id, pos = _ebml_vint(head, pos, keep_marker=True)
        child_size, pos = _ebml_vint(head, pos, keep_marker=False)
        if pos + child_size > header_end:
            raise broken_file(MKV)
        if child_id == 0x4282:
            doctype = head[pos : pos + child_size].rstrip(b"\x00")
        pos += child_size
    segment_id, _ = _ebml_vint(head, header_end, keep_marker=True)
    mime = {b"webm": WEBM, b"matroska": MKV}.get(doctype)
    if mime is None:
        return Detected("application/x-ebml")
    if segment_id != 0x18538067:
        raise broken_file(mime)
    return Detected(mime, MediaKind.VIDEO)
