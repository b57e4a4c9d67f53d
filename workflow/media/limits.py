"""How big a file of each kind may be and which content types each kind accepts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from workflow.media.mime_types import (
    DOC,
    DOCX,
    GPP,
    GPP2,
    HEIC,
    HEIF,
    JPEG,
    MKV,
    MOV,
    MP4,
    ODP,
    ODS,
    ODT,
    PDF,
    PILLOW_FORMAT,
    PNG,
    PPT,
    PPTX,
    STORED_EXTENSION,
    WEBM,
    WEBP,
    XLS,
    XLSX,
)
from workflow.media.refusals import MediaRejected
from workflow.models import MediaKind

MB: Final = 1024 * 1024


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
    # Zip bombs: what an OOXML/ODF archive's central directory says it inflates to, in total
    # and as a multiple of the file's own size (checked without inflating anything).
    max_archive_inflated_bytes: int = 200 * MB
    max_archive_ratio: float = 100.0
    photo_mime_types: frozenset[str] = frozenset({JPEG, PNG, WEBP, HEIC, HEIF})
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
            "max_archive_inflated_bytes",
            "max_archive_ratio",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"MediaLimits.{name} must be positive")
        if self.download_limit_bytes is not None and self.download_limit_bytes <= 0:
            raise ValueError("MediaLimits.download_limit_bytes must be positive or None")
        if not 1 <= self.jpeg_quality <= 95:
            raise ValueError("MediaLimits.jpeg_quality must be between 1 and 95")
        unknown = (self.document_mime_types | self.video_mime_types) - STORED_EXTENSION.keys()
        unknown |= self.photo_mime_types - PILLOW_FORMAT.keys()
        if unknown:
            raise ValueError(f"MediaLimits: no content check for {sorted(unknown)}")

    def max_bytes(self, kind: MediaKind) -> int:
        """The size limit of `kind`; a string that names no kind is a ``ValueError``."""
        return {
            MediaKind.PHOTO: self.max_photo_bytes,
            MediaKind.DOCUMENT: self.max_document_bytes,
            MediaKind.VIDEO: self.max_video_bytes,
        }[MediaKind(kind)]

    def mime_types(self, kind: MediaKind) -> frozenset[str]:
        """The content types a file whose content is of `kind` may have."""
        return {
            MediaKind.PHOTO: self.photo_mime_types,
            MediaKind.DOCUMENT: self.document_mime_types,
            MediaKind.VIDEO: self.video_mime_types,
        }[kind]


DEFAULT_LIMITS: Final = MediaLimits()


def _mb(n: int) -> float:
    return round(n / MB, 1)


def _too_large(kind: MediaKind, size_bytes: int, limit_bytes: int) -> MediaRejected:
    return MediaRejected(
        "too_large", kind=kind, size_bytes=size_bytes, limit_bytes=limit_bytes,
        limit_mb=_mb(limit_bytes),
    )


def check_declared_size(
    kind: MediaKind, declared_bytes: int | None, limits: MediaLimits = DEFAULT_LIMITS
) -> None:
    """Refuse, before downloading, a file whose declared size is over the limit.

    ``declared_bytes`` None (Telegram did not say) passes; ``store()`` checks the real size.
    Raises ``MediaRejected("too_large" | "too_large_to_download", ...)``.
    """
    k = MediaKind(kind)
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
        raise _too_large(k, declared_bytes, own)


def check_downloaded_size(kind: MediaKind, size_bytes: int, limits: MediaLimits) -> None:
    """Refuse a downloaded file that is empty or over its kind's limit (declared sizes lie)."""
    if size_bytes == 0:
        raise MediaRejected("empty", kind=kind)
    limit = limits.max_bytes(kind)
    if size_bytes > limit:
        raise _too_large(kind, size_bytes, limit)
