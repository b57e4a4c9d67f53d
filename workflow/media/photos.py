"""Photo normalisation: decoded, oriented, resized, converted to sRGB, stripped of metadata.

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
"""

from __future__ import annotations

import functools
import io
import logging
import math
from pathlib import Path
from typing import BinaryIO, Final

from PIL import Image, ImageOps
from pillow_heif import register_heif_opener

from workflow.media.limits import MediaLimits
from workflow.media.mime_types import JPEG, PILLOW_FORMAT
from workflow.media.refusals import MediaRejected

try:  # LittleCMS is in every Pillow wheel, but a source build may lack it.
    from PIL import ImageCms
except ImportError:  # pragma: no cover
    ImageCms = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
register_heif_opener()  # Pillow opens HEIC/HEIF only as PILLOW_FORMAT allows, like the rest

_DRAFT_MIN_FRACTION: Final = 0.9


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


def decode_photo(path: Path, mime: str, limits: MediaLimits, use_draft: bool) -> Image.Image:
    """Decode, bomb-check, orient, flatten and downscale a photo; return an RGB image."""
    max_px = limits.max_image_pixels
    too_big = {"max_pixels": max_px, "max_megapixels": round(max_px / 1_000_000, 1)}
    try:
        with path.open("rb") as f, Image.open(f, formats=[PILLOW_FORMAT[mime]]) as img:
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


def thumbnail(img: Image.Image, long_edge: int) -> Image.Image:
    """A copy of `img` whose long edge is at most `long_edge`."""
    thumb = img.copy()
    thumb.thumbnail((long_edge, long_edge), Image.Resampling.LANCZOS)
    return thumb


def write_jpeg(img: Image.Image, sink: BinaryIO, quality: int) -> None:
    """`img` as a progressive, optimised JPEG; no metadata is written."""
    img.save(sink, "JPEG", quality=quality, optimize=True, progressive=True)
