"""The simulator's file store: file ids, download paths and Telegram-like photo sizes."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from functools import cache
from io import BytesIO
from pathlib import Path

from PIL import Image

from telesim.errors import ApiError
from telesim.state import JSON, StoredFile

_FILE_PREFIX = {"photo": "AgAC", "video": "BAAC", "video_note": "DQAC", "document": "BQAC"}
_FILE_FOLDER = {"photo": "photos", "video": "videos", "video_note": "video_notes",
                "document": "documents"}
_FILE_SUFFIX = {"photo": ".jpg", "video": ".mp4", "video_note": ".mp4", "document": ""}
_THUMB_SIDES = (90, 320, 800)  # Telegram's "s", "m" and "x" photo sizes
_MAX_THUMBNAILED_PIXELS = 40_000_000  # don't decode huge (or bomb) images just for thumbnails


@cache
def _placeholder_jpeg() -> bytes:
    """A small grey JPEG served as the thumbnail of photos Pillow cannot decode."""
    out = BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(out, "JPEG")
    return out.getvalue()


def _photo_renditions(source: bytes | Path) -> tuple[int, int, list[tuple[int, int, bytes]]]:
    """Original (width, height) and smaller JPEG renditions, smallest first.

    Bytes Pillow cannot read (tests often pass b"fake jpeg") get a nominal 1280x960 size and a
    placeholder thumbnail, so a bot downloading ``photo[0]`` instead of ``photo[-1]`` still gets
    different bytes.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning is someone else's test
            with Image.open(BytesIO(source) if isinstance(source, bytes) else source) as img:
                width, height = img.size
                if width * height > _MAX_THUMBNAILED_PIXELS:
                    return width, height, [(320, 240, _placeholder_jpeg())]
                return width, height, _thumbnails(img)
    except Exception:  # Pillow raises many types for undecodable input
        return 1280, 960, [(320, 240, _placeholder_jpeg())]


def _thumbnails(img: Image.Image) -> list[tuple[int, int, bytes]]:
    width, height = img.size
    sides = [s for s in _THUMB_SIDES if s < max(width, height)]
    if not sides:
        return []
    img.draft("RGB", (sides[-1], sides[-1]))  # JPEG: decode at reduced scale, much faster
    current = img.convert("RGB")
    renditions: list[tuple[int, int, bytes]] = []
    for side in reversed(sides):
        current.thumbnail((side, side))
        out = BytesIO()
        current.save(out, "JPEG", quality=80)
        renditions.append((current.width, current.height, out.getvalue()))
    return renditions[::-1]


class FileStore:
    """Every file a simulator can serve, by file_id and by download path.

    ``ids`` is the simulator's counter of opaque numbers, shared with its other ids.
    """

    def __init__(self, ids: Iterator[int]) -> None:
        self._ids = ids
        #: Stored files by file_id (every photo size, document and video).
        self.by_id: dict[str, StoredFile] = {}
        #: Stored files by the ``file_path`` getFile hands out (the download route's key).
        self.by_path: dict[str, StoredFile] = {}
        self._media_by_file_id: dict[str, tuple[str, JSON, StoredFile]] = {}
        self._local_dir: Path | None = None

    def _new_file(
        self,
        kind: str,
        source: bytes | Path,
        *,
        file_size: int | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        n = next(self._ids)
        suffix = (Path(file_name).suffix if file_name else "") or _FILE_SUFFIX[kind]
        if isinstance(source, bytes):
            data, disk, actual = source, None, len(source)
        else:
            data, disk = None, Path(source)
            actual = disk.stat().st_size
        stored = StoredFile(
            file_id=f"{_FILE_PREFIX[kind]}{n:08d}",
            file_unique_id=f"AQAD{n:08d}",
            # Relative paths that do not exist locally: PTB reads existing local paths from
            # disk instead of downloading them.
            file_path=f"{_FILE_FOLDER[kind]}/file_{n}{suffix}",
            file_size=actual if file_size is None else file_size,
            kind=kind,
            data=data,
            disk_path=disk,
            file_name=file_name,
            mime_type=mime_type,
        )
        self.by_id[stored.file_id] = stored
        self.by_path[stored.file_path] = stored
        return stored

    def create_media(
        self,
        kind: str,
        source: bytes | Path,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        file_size: int | None = None,
        extra: JSON | None = None,
    ) -> tuple[JSON, StoredFile]:
        """Store new file(s) and build the message's media part, e.g. ``{"photo": [...]}``."""
        if kind == "photo":
            return self._create_photo(source, file_size)
        if kind not in ("video", "video_note", "document"):
            raise ApiError(400, f"Bad Request: media type {kind!r} is not supported by the double")
        main = self._new_file(
            kind, source, file_size=file_size, file_name=file_name, mime_type=mime_type
        )
        obj: JSON = {"file_id": main.file_id, "file_unique_id": main.file_unique_id}
        if kind == "video":
            obj.update({"duration": 5, "width": 1280, "height": 720})
        obj.update(extra or {})
        obj.update({k: v for k, v in (("file_name", file_name), ("mime_type", mime_type)) if v})
        obj["file_size"] = main.file_size
        media = {kind: obj}
        self._media_by_file_id[main.file_id] = (kind, media, main)
        return media, main

    def _create_photo(self, source: bytes | Path, file_size: int | None) -> tuple[JSON, StoredFile]:
        width, height, renditions = _photo_renditions(source)
        sizes: list[JSON] = []
        files = [self._new_file("photo", data) for _, _, data in renditions]
        main = self._new_file("photo", source, file_size=file_size, mime_type="image/jpeg")
        dims = [(w, h) for w, h, _ in renditions] + [(width, height)]
        for stored, (w, h) in zip([*files, main], dims, strict=True):
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": w,
                    "height": h,
                    "file_size": stored.file_size,
                }
            )
        media = {"photo": sizes}
        for stored in [*files, main]:
            self._media_by_file_id[stored.file_id] = ("photo", media, main)
        return media, main

    def media_by_id(self, file_id: str, kind: str) -> tuple[JSON, StoredFile]:
        entry = self._media_by_file_id.get(file_id)
        if entry is None:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        stored_kind, media, main = entry
        if stored_kind != kind:
            detail = f"can't use file of type {stored_kind.title()} as {kind.title()}"
            raise ApiError(400, f"Bad Request: {detail}")
        return media, main

    def local_path(self, stored: StoredFile) -> Path:
        """Local mode returns absolute paths; in-memory files are written out for that."""
        if stored.disk_path is not None:
            return stored.disk_path.resolve()
        if self._local_dir is None:
            self._local_dir = Path(tempfile.mkdtemp(prefix="telesim-"))
        target = self._local_dir / stored.file_path
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(stored.read())
        return target

    def remove_local_copies(self) -> None:
        """Delete the files written out for local mode (see ``local_path``)."""
        if self._local_dir is not None:
            shutil.rmtree(self._local_dir, ignore_errors=True)
            self._local_dir = None
