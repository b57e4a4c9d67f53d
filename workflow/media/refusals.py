"""Why a file was refused: the reason codes and the exception that carries them.

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
``archive_bomb``           ``detected``, ``inflated_bytes``, ``ratio``: a document archive
                           whose entries would inflate beyond the limits (zip-bomb guard)

Sizes are in MiB: ``MB = 1024 * 1024`` (Telegram's "20 MB" is 20 MiB).
"""

from __future__ import annotations

from typing import Final

REASON_CODES: Final = frozenset(
    {
        "empty",
        "too_large",
        "too_large_to_download",
        "unsupported_type",
        "broken_file",
        "broken_image",
        "image_too_big",
        "archive_bomb",
    }
)


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


def broken_file(mime: str) -> MediaRejected:
    """The refusal for content that claims type `mime` but whose structure is broken."""
    return MediaRejected("broken_file", detected=mime)
