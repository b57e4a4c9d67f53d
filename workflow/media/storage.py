"""Content-addressed storage of checked media on disk, written so a crash leaves no partial file.

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
import hashlib
import os
import re
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from PIL import Image

from workflow.durable import fsync_dir
from workflow.media.detected import Detected
from workflow.media.limits import (
    DEFAULT_LIMITS,
    MediaLimits,
    check_declared_size,
    check_downloaded_size,
)
from workflow.media.mime_types import JPEG, STORED_EXTENSION
from workflow.media.names import sanitize_display_name
from workflow.media.photos import decode_photo, thumbnail, write_jpeg
from workflow.media.refusals import MediaRejected
from workflow.media.sniffing import sniff
from workflow.models import MediaKind

_CHUNK: Final = 1024 * 1024
_STORED_MODE: Final = 0o640
_REL_PATH: Final = re.compile(r"([0-9a-f]{2})/([0-9a-f]{64})(?:\.thumb)?\.[a-z0-9]{1,5}")


def sha256_of(handle: BinaryIO) -> tuple[str, int]:
    """(sha256 hex, size) of what is left to read in `handle`, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


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

    def check_declared_size(self, kind: MediaKind, declared_bytes: int | None) -> None:
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
        self, temp_path: Path, declared_kind: MediaKind, original_name: str | None = None
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
            kind = MediaKind(declared_kind)
            st = src.lstat()
            if not stat.S_ISREG(st.st_mode):
                raise ValueError(f"temp path is not a regular file: {src}")
            return self._store(src, st.st_size, kind, sanitize_display_name(original_name))
        finally:
            _unlink_quiet(src)

    def _store(
        self, src: Path, size: int, kind: MediaKind, display_name: str | None
    ) -> StoredMedia:
        check_downloaded_size(kind, size, self.limits)
        with src.open("rb") as f:
            detected = sniff(f, size, self.limits)
        if detected.kind is None or detected.mime not in self.limits.mime_types(detected.kind):
            raise MediaRejected("unsupported_type", detected=detected.mime, kind=kind)
        if detected.kind == MediaKind.PHOTO:
            return self._store_photo(src, detected.mime, display_name)
        return self._store_file(src, detected, detected.kind, display_name)

    def _final(self, sha: str, suffix: str) -> tuple[str, Path]:
        rel = f"{sha[:2]}/{sha}.{suffix}"
        return rel, self.root / sha[:2] / f"{sha}.{suffix}"

    def _install(self, tmp: Path, final: Path) -> None:
        """fsync'd temp file → final path, atomically."""
        os.chmod(tmp, _STORED_MODE)
        final.parent.mkdir(mode=0o750, exist_ok=True)
        os.replace(tmp, final)
        fsync_dir(final.parent)

    def _store_file(
        self, src: Path, detected: Detected, kind: MediaKind, display_name: str | None
    ) -> StoredMedia:
        with src.open("rb") as f:
            sha, size = sha256_of(f)
            os.fsync(f.fileno())  # the bot's writes reach the disk before the rename
        rel, final = self._final(sha, STORED_EXTENSION[detected.mime])
        duplicate = final.exists()
        if not duplicate:
            self._install(src, final)
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
                write_jpeg(img, f, self.limits.jpeg_quality)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            _unlink_quiet(tmp)
            raise
        return tmp

    def _store_photo(self, src: Path, mime: str, display_name: str | None) -> StoredMedia:
        img = decode_photo(src, mime, self.limits, self.use_jpeg_draft)
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
            thumb_tmp = self._save_jpeg(thumbnail(img, self.limits.thumbnail_long_edge))
            try:
                self._install(thumb_tmp, thumb_final)
            finally:
                _unlink_quiet(thumb_tmp)
        return StoredMedia(
            kind=MediaKind.PHOTO,
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
