"""Tests for the workflow.media package: the whole corpus is built here, no binary fixtures."""

from __future__ import annotations

import io
import os
import random
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageCms

from workflow.media import mime_types, storage
from workflow.media.limits import MB, MediaLimits, check_declared_size
from workflow.media.names import sanitize_display_name
from workflow.media.refusals import REASON_CODES, MediaRejected
from workflow.media.storage import InvalidMediaPath, MediaStore, StoredMedia

# ------------------------------------------------------------------------------ corpus


def jpeg_bytes(
    size: tuple[int, int] = (400, 200),
    *,
    orientation: int | None = None,
    gps: bool = False,
    icc: bytes | None = None,
    xmp: bytes | None = None,
    comment: bytes | None = None,
    mode: str = "RGB",
    quality: int = 90,
) -> bytes:
    """Left half red, right half blue: orientation is visible in the pixels."""
    w, h = size
    img = Image.new("RGB", size, (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, w // 2, h))
    if mode != "RGB":
        img = img.convert(mode)
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    if gps:
        exif[ExifTags.Base.Make] = "PhoneCam"
        gps_ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps_ifd[ExifTags.GPS.GPSLatitudeRef] = "S"
        gps_ifd[ExifTags.GPS.GPSLatitude] = (1.0, 59.0, 30.0)
        gps_ifd[ExifTags.GPS.GPSLongitudeRef] = "E"
        gps_ifd[ExifTags.GPS.GPSLongitude] = (115.0, 10.0, 5.0)
    params: dict[str, object] = {"quality": quality}
    if len(exif):
        params["exif"] = exif.tobytes()
    if icc:
        params["icc_profile"] = icc
    if xmp:
        params["xmp"] = xmp
    if comment:
        params["comment"] = comment
    out = io.BytesIO()
    img.save(out, "JPEG", **params)
    return out.getvalue()


def png_bytes(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming width x height 8-bit greyscale pixels, with one tiny IDAT: a bomb that
    weighs a few dozen bytes (it would never decode fully, the header is what matters)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1)))
        + _png_chunk(b"IEND", b"")
    )


def pdf_bytes() -> bytes:
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1,
        xref,
    )
    return bytes(out)


OOXML_PARTS = {
    "docx": ("word/document.xml", "wordprocessingml.document.main+xml"),
    "xlsx": ("xl/workbook.xml", "spreadsheetml.sheet.main+xml"),
    "pptx": ("ppt/presentation.xml", "presentationml.presentation.main+xml"),
}


def ooxml_bytes(kind: str = "docx", *, macro: bool = False) -> bytes:
    part, ctype = OOXML_PARTS[kind]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            f'content-types"><Override PartName="/{part}" ContentType="application/'
            f'vnd.openxmlformats-officedocument.{ctype}"/></Types>',
        )
        zf.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        zf.writestr(part, '<?xml version="1.0"?><document>Rapat desa</document>')
        if macro:
            zf.writestr(part.split("/")[0] + "/vbaProject.bin", b"\xd0\xcf\x11\xe0 macro")
    return out.getvalue()


def docx_with_filler(inflated_bytes: int, *, chunk: bytes = bytes(1024 * 1024)) -> bytes:
    """A well-formed DOCX plus a part of `inflated_bytes` that deflates to almost nothing."""
    out = io.BytesIO(ooxml_bytes("docx"))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("word/media/filler.bin", "w", force_zip64=True) as part:
            for start in range(0, inflated_bytes, len(chunk)):
                part.write(chunk[: inflated_bytes - start])
    return out.getvalue()


def odf_bytes(mimetype: str = mime_types.ODT) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        zf.writestr("content.xml", "<office:document-content/>", zipfile.ZIP_DEFLATED)
        zf.writestr("META-INF/manifest.xml", "<manifest/>", zipfile.ZIP_DEFLATED)
    return out.getvalue()


def plain_zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("laporan.txt", "bukan dokumen office")
    return out.getvalue()


def cfb_bytes(stream_name: str) -> bytes:
    """A minimal OLE2 compound file (v3, 512-byte sectors) holding one 4096-byte stream.

    Sector 0: FAT, sector 1: directory, sectors 2..9: the stream (4096 bytes is the mini
    stream cutoff, so it lives in normal sectors and no mini FAT is needed).
    """
    free, end, fat_sect, nostream = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0)
        + struct.pack("<109I", 0, *([free] * 108))
    )
    assert len(header) == 512
    fat = [fat_sect, end, 3, 4, 5, 6, 7, 8, 9, end] + [free] * 118
    fat_sector = struct.pack("<128I", *fat)

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        raw = name.encode("utf-16-le")
        return (
            raw.ljust(64, b"\x00")
            + struct.pack("<HBB", len(raw) + 2 if name else 0, kind, 1)
            + struct.pack("<III", nostream, nostream, child)
            + bytes(16)
            + struct.pack("<IQQIQ", 0, 0, 0, start, size)
        )

    directory = (
        entry("Root Entry", 5, 1, end, 0)
        + entry(stream_name, 2, nostream, 2, 4096)
        + entry("", 0, nostream, 0, 0) * 2
    )
    assert len(directory) == 512
    return header + fat_sector + directory + bytes(range(256)) * 16


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def mp4_bytes(brand: bytes = b"isom", handler: bytes = b"vide", *, moov: bool = True) -> bytes:
    ftyp = box(b"ftyp", brand + struct.pack(">I", 512) + brand + b"iso2mp41")
    hdlr = box(b"hdlr", bytes(4) + bytes(4) + handler + bytes(12) + b"VideoHandler\x00")
    trak = box(b"trak", box(b"tkhd", bytes(84)) + box(b"mdia", box(b"mdhd", bytes(24)) + hdlr))
    body = box(b"moov", box(b"mvhd", bytes(100)) + trak) if moov else b""
    return ftyp + box(b"free") + body + box(b"mdat", bytes(range(256)) * 8)


def ebml_element(element_id: bytes, payload: bytes) -> bytes:
    assert len(payload) < 127
    return element_id + bytes([0x80 | len(payload)]) + payload


def webm_bytes(doctype: bytes = b"webm") -> bytes:
    header = ebml_element(
        b"\x1a\x45\xdf\xa3",
        ebml_element(b"\x42\x86", b"\x01")
        + ebml_element(b"\x42\x82", doctype)
        + ebml_element(b"\x42\x87", b"\x04"),
    )
    segment = b"\x18\x53\x80\x67" + b"\x01\xff\xff\xff\xff\xff\xff\xff"  # unknown size
    return header + segment + bytes(64)


# ------------------------------------------------------------------------------ helpers


@pytest.fixture
def store(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media", MediaLimits())


def put(store: MediaStore, data: bytes) -> Path:
    path = store.new_temp_path()
    path.write_bytes(data)
    return path


def reject(store: MediaStore, data: bytes, kind: str = "document", name: str | None = None):
    path = put(store, data)
    with pytest.raises(MediaRejected) as info:
        store.store(path, kind, name)
    assert not path.exists()
    assert_tmp_clean(store)
    return info.value


def assert_tmp_clean(store: MediaStore) -> None:
    assert list(store.tmp_dir.iterdir()) == []


def stored_image(store: MediaStore, result: StoredMedia) -> Image.Image:
    img = Image.open(store.open_stored(result.relative_path))
    img.load()
    return img


def close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 40) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------------------ photos


def test_jpeg_exif_orientation_applied_and_all_metadata_stripped(store: MediaStore) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
        b'exif:GPSLatitude="1,59.5S"/></rdf:RDF></x:xmpmeta>'
    )
    data = jpeg_bytes(
        (400, 200), orientation=6, gps=True, icc=icc, xmp=xmp, comment=b"lokasi rahasia"
    )
    # The corpus really carries what we strip.
    src = Image.open(io.BytesIO(data))
    assert src.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert b"Exif" in data and b"GPS" in data and b"ICC_PROFILE" in data

    result = store.store(put(store, data), "photo", "IMG_0001.jpg")

    assert result.kind == "photo" and result.mime == "image/jpeg"
    assert (result.width, result.height) == (200, 400)  # rotated 90°
    img = stored_image(store, result)
    assert img.format == "JPEG" and img.mode == "RGB" and img.size == (200, 400)
    # Orientation 6: the stored (left=red) top row is shown on the right → red on top.
    assert close(img.getpixel((100, 50)), (255, 0, 0))
    assert close(img.getpixel((100, 350)), (0, 0, 255))
    assert len(img.getexif()) == 0
    for key in ("exif", "icc_profile", "xmp", "comment", "XML:com.adobe.xmp"):
        assert key not in img.info
    raw = store.open_stored(result.relative_path).read_bytes()
    for needle in (b"Exif", b"GPS", b"ICC_PROFILE", b"xmpmeta", b"adobe", b"rahasia", b"Phone"):
        assert needle not in raw
    assert result.size == len(raw)
    assert result.sha256 == __import__("hashlib").sha256(raw).hexdigest()
    assert result.relative_path == f"{result.sha256[:2]}/{result.sha256}.jpg"
    assert result.display_name == "IMG_0001.jpg" and result.duplicate is False
    assert_tmp_clean(store)


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
def test_every_orientation_ends_with_no_orientation_tag(
    store: MediaStore, orientation: int
) -> None:
    result = store.store(put(store, jpeg_bytes(orientation=orientation)), "photo", None)
    img = stored_image(store, result)
    assert ExifTags.Base.Orientation not in img.getexif()
    expected = (400, 200) if orientation <= 4 else (200, 400)
    assert img.size == expected


def test_large_photo_downscaled_with_thumbnail(store: MediaStore) -> None:
    result = store.store(put(store, jpeg_bytes((5000, 2500))), "photo", None)
    assert (result.width, result.height) == (2048, 1024)
    assert stored_image(store, result).size == (2048, 1024)
    assert result.thumbnail_path == f"{result.sha256[:2]}/{result.sha256}.thumb.jpg"
    thumb = Image.open(store.open_stored(result.thumbnail_path))
    assert thumb.format == "JPEG" and thumb.size == (320, 160)
    assert len(thumb.getexif()) == 0


def test_phone_photo_uses_draft_fast_path_within_limit(tmp_path: Path) -> None:
    data = jpeg_bytes((4000, 3000))
    fast = MediaStore(tmp_path / "fast", MediaLimits())
    slow = MediaStore(tmp_path / "slow", MediaLimits(), use_jpeg_draft=False)
    r_fast = fast.store(put(fast, data), "photo", None)
    r_slow = slow.store(put(slow, data), "photo", None)
    # The draft decodes at 1/2 scale (2000 ≥ 90 % of 2048) and is not resampled again.
    assert (r_fast.width, r_fast.height) == (2000, 1500)
    assert (r_slow.width, r_slow.height) == (2048, 1536)


def test_small_photo_not_upscaled(store: MediaStore) -> None:
    result = store.store(put(store, jpeg_bytes((300, 200))), "photo", None)
    assert (result.width, result.height) == (300, 200)
    assert Image.open(store.open_stored(result.thumbnail_path)).size == (300, 200)


def test_large_png_downscaled(store: MediaStore) -> None:
    img = Image.new("RGB", (3000, 1000), (10, 120, 30))
    result = store.store(put(store, png_bytes(img)), "document", "scan.png")
    assert result.kind == "photo" and result.mime == "image/jpeg"
    assert (result.width, result.height) == (2048, 683)
    assert result.relative_path.endswith(".jpg")


def test_png_with_alpha_composited_on_white(store: MediaStore) -> None:
    img = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    img.paste((255, 0, 0, 255), (50, 50, 150, 150))
    result = store.store(put(store, png_bytes(img)), "photo", "logo.png")
    out = stored_image(store, result)
    assert out.mode == "RGB"
    assert close(out.getpixel((10, 10)), (255, 255, 255), 8)
    assert close(out.getpixel((100, 100)), (255, 0, 0))


def test_palette_png_with_transparency(store: MediaStore) -> None:
    img = Image.new("P", (64, 64), 0)
    img.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    img.paste(1, (16, 16, 48, 48))
    img.info["transparency"] = 0
    out = io.BytesIO()
    img.save(out, "PNG", transparency=0)
    result = store.store(put(store, out.getvalue()), "photo", None)
    stored = stored_image(store, result)
    assert close(stored.getpixel((2, 2)), (255, 255, 255), 8)
    assert close(stored.getpixel((32, 32)), (0, 200, 0))


def test_sixteen_bit_greyscale_png(store: MediaStore) -> None:
    img = Image.new("I;16", (50, 40), 40000)
    result = store.store(put(store, png_bytes(img)), "photo", None)
    px = stored_image(store, result).getpixel((5, 5))
    assert isinstance(px, tuple) and close(px, (155, 155, 155), 6)


def test_cmyk_jpeg_and_webp_and_broken_icc(store: MediaStore) -> None:
    cmyk = store.store(put(store, jpeg_bytes(mode="CMYK")), "photo", None)
    assert stored_image(store, cmyk).mode == "RGB"
    webp = io.BytesIO()
    Image.new("RGB", (120, 80), (0, 128, 255)).save(webp, "WEBP")
    result = store.store(put(store, webp.getvalue()), "document", "x.webp")
    assert result.kind == "photo" and result.mime == "image/jpeg"
    # A garbage ICC profile is ignored, not fatal.
    garbage = store.store(put(store, jpeg_bytes(icc=b"not a profile" * 10)), "photo", None)
    assert "icc_profile" not in stored_image(store, garbage).info


def test_empty_file(store: MediaStore) -> None:
    err = reject(store, b"", "photo")
    assert err.reason_code == "empty" and err.details == {"kind": "photo"}


def test_truncated_jpeg_refused(store: MediaStore) -> None:
    data = jpeg_bytes((600, 400))
    err = reject(store, data[: len(data) // 2], "photo")
    assert err.reason_code == "broken_image" and err.details["detected"] == "image/jpeg"
    err = reject(store, data[:100], "photo")
    assert err.reason_code == "broken_image"


def test_garbage_after_png_signature_refused(store: MediaStore) -> None:
    err = reject(store, b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "photo")
    assert err.reason_code == "broken_image" and err.details["detected"] == "image/png"


def test_png_decompression_bomb_refused_from_header(store: MediaStore) -> None:
    data = png_header_only(30000, 30000)
    assert len(data) < 40_000
    err = reject(store, data, "photo", "bom.png")
    assert err.reason_code == "image_too_big"
    assert err.details["max_pixels"] == 40_000_000 and err.details["max_megapixels"] == 40.0


def test_image_over_our_pixel_limit_but_under_pillows(store: MediaStore) -> None:
    # 48 MP: under Pillow's own 89 MP warning, over our 40 MP limit → our check refuses it.
    err = reject(store, png_header_only(8000, 6000), "photo")
    assert err.reason_code == "image_too_big"
    assert (err.details["width"], err.details["height"]) == (8000, 6000)
    # 100 MP: Pillow warns (an error under this test run's filterwarnings); still refused.
    err = reject(store, png_header_only(10000, 10000), "photo")
    assert err.reason_code == "image_too_big"


def test_pixel_limit_comes_from_limits_not_pillow_global(tmp_path: Path) -> None:
    small = MediaStore(tmp_path / "m", MediaLimits(max_image_pixels=30_000))
    assert small.store(put(small, jpeg_bytes((200, 100))), "photo", None).width == 200
    err = reject(small, jpeg_bytes((200, 200)), "photo")
    assert err.reason_code == "image_too_big"
    assert err.details == {"width": 200, "height": 200, "max_pixels": 30_000, "max_megapixels": 0.0}


# ------------------------------------------------------------------------------ types


def test_exe_named_as_photo_refused(store: MediaStore) -> None:
    exe = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(56) + b"This program cannot be run in DOS mode"
    err = reject(store, exe, "photo", "foto.jpg")
    assert err.reason_code == "unsupported_type"
    assert err.details == {"detected": "application/x-msdownload", "kind": "photo"}


def test_html_named_pdf_refused(store: MediaStore) -> None:
    html = b"\xef\xbb\xbf  <!DOCTYPE html><html><body>%PDF-1.4 phishing</body></html>"
    err = reject(store, html, "document", "laporan.pdf")
    assert err.reason_code == "unsupported_type" and err.details["detected"] == "text/html"


@pytest.mark.parametrize(
    ("data", "detected"),
    [
        (b"Laporan kegiatan desa\n" * 10, "text/plain"),
        (b"GIF89a" + bytes(40), "image/gif"),
        (b"\x7fELF\x02\x01\x01" + bytes(40), "application/x-executable"),
        (bytes(range(256)), "application/octet-stream"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>", "image/svg+xml"),
    ],
)
def test_other_types_refused(store: MediaStore, data: bytes, detected: str) -> None:
    err = reject(store, data)
    assert err.reason_code == "unsupported_type" and err.details["detected"] == detected


def test_real_pdf_stored_as_is(store: MediaStore) -> None:
    data = pdf_bytes()
    result = store.store(put(store, data), "document", "Laporan Rapat.pdf")
    assert (result.kind, result.mime) == ("document", "application/pdf")
    assert result.relative_path.endswith(".pdf") and result.thumbnail_path is None
    assert result.width is None and result.height is None
    assert store.open_stored(result.relative_path).read_bytes() == data
    assert result.size == len(data) and result.display_name == "Laporan Rapat.pdf"
    assert_tmp_clean(store)


def test_truncated_pdf_refused(store: MediaStore) -> None:
    err = reject(store, pdf_bytes()[:-40])
    assert err.reason_code == "broken_file" and err.details["detected"] == "application/pdf"


@pytest.mark.parametrize(("kind", "ext"), [("docx", "docx"), ("xlsx", "xlsx"), ("pptx", "pptx")])
def test_ooxml_accepted(store: MediaStore, kind: str, ext: str) -> None:
    result = store.store(put(store, ooxml_bytes(kind)), "document", f"a.{ext}")
    assert result.kind == "document" and result.relative_path.endswith("." + ext)
    expected = {"docx": mime_types.DOCX, "xlsx": mime_types.XLSX, "pptx": mime_types.PPTX}
    assert result.mime == expected[kind]


def test_macro_enabled_ooxml_refused(store: MediaStore) -> None:
    err = reject(store, ooxml_bytes("docx", macro=True), name="laporan.docx")
    assert err.reason_code == "unsupported_type"
    assert "macroEnabled" in str(err.details["detected"])


def test_odf_accepted_and_epub_refused(store: MediaStore) -> None:
    for mime, ext in ((mime_types.ODT, "odt"), (mime_types.ODS, "ods")):
        result = store.store(put(store, odf_bytes(mime)), "document", None)
        assert result.mime == mime and result.relative_path.endswith("." + ext)
    err = reject(store, odf_bytes("application/epub+zip"))
    assert err.reason_code == "unsupported_type"
    assert err.details["detected"] == "application/epub+zip"


def test_renamed_zip_refused(store: MediaStore) -> None:
    err = reject(store, plain_zip_bytes(), name="laporan.docx")
    assert err.reason_code == "unsupported_type" and err.details["detected"] == "application/zip"


def test_zip_bomb_docx_refused_without_being_stored(store: MediaStore) -> None:
    """About 1 MiB on the wire that unpacks to 300 MiB: over the total limit (200 MiB)."""
    bomb = docx_with_filler(300 * MB)
    assert len(bomb) < 2 * MB
    err = reject(store, bomb, name="laporan.docx")
    assert err.reason_code == "archive_bomb"
    assert err.details["inflated_bytes"] > 300 * MB and err.details["ratio"] > 100
    assert not [p for p in store.root.rglob("*") if p.is_file() and p.suffix == ".docx"]


def test_zip_bomb_below_total_but_too_dense_refused(tmp_path: Path) -> None:
    """50 MiB from a few kilobytes passes the total but not the ratio (100:1 above 8 MiB)."""
    roomy = MediaStore(tmp_path / "m", MediaLimits(max_archive_inflated_bytes=1024 * MB))
    err = reject(roomy, docx_with_filler(50 * MB), name="laporan.docx")
    assert err.reason_code == "archive_bomb"


def test_docx_with_real_sized_content_accepted(store: MediaStore) -> None:
    """Photos in a DOCX barely compress: 12 MiB inside a 12 MiB file is an ordinary report."""
    noisy = docx_with_filler(12 * MB, chunk=random.Random(7).randbytes(1024 * 1024))
    stored = store.store(put(store, noisy), "document", "laporan.docx")
    assert stored.mime == mime_types.DOCX


def test_corrupt_zip_refused(store: MediaStore) -> None:
    err = reject(store, b"PK\x03\x04" + bytes(200), name="laporan.docx")
    assert err.reason_code == "broken_file" and err.details["detected"] == "application/zip"


@pytest.mark.parametrize(
    ("stream", "mime", "ext"),
    [
        ("WordDocument", "application/msword", "doc"),
        ("Workbook", "application/vnd.ms-excel", "xls"),
        ("PowerPoint Document", "application/vnd.ms-powerpoint", "ppt"),
    ],
)
def test_legacy_office_accepted(store: MediaStore, stream: str, mime: str, ext: str) -> None:
    result = store.store(put(store, cfb_bytes(stream)), "document", None)
    assert result.mime == mime and result.relative_path.endswith("." + ext)


def test_other_ole_files_refused(store: MediaStore) -> None:
    # An MSI installer or an Outlook message is OLE2 too, but has no Office main stream.
    err = reject(store, cfb_bytes("\x05SummaryInformation"), name="setup.doc")
    assert err.reason_code == "unsupported_type"
    assert err.details["detected"] == "application/x-ole-storage"
    err = reject(store, cfb_bytes("WordDocument")[:600], name="laporan.doc")
    assert err.reason_code == "broken_file"


def test_polyglot_jpeg_with_zip_appended_is_reencoded(store: MediaStore) -> None:
    data = jpeg_bytes() + plain_zip_bytes()
    assert zipfile.is_zipfile(io.BytesIO(data))  # it really is both
    result = store.store(put(store, data), "photo", None)
    raw = store.open_stored(result.relative_path).read_bytes()
    assert b"PK\x03\x04" not in raw and b"laporan.txt" not in raw
    assert not zipfile.is_zipfile(io.BytesIO(raw))


def test_polyglot_pdf_or_mp4_with_zip_appended_refused(store: MediaStore) -> None:
    assert reject(store, pdf_bytes() + plain_zip_bytes()).reason_code == "broken_file"
    err = reject(store, mp4_bytes() + plain_zip_bytes(), "video")
    assert err.reason_code == "broken_file"


@pytest.mark.parametrize(
    ("brand", "mime", "ext"),
    [
        (b"isom", "video/mp4", "mp4"),
        (b"mp42", "video/mp4", "mp4"),
        (b"qt  ", "video/quicktime", "mov"),
        (b"3gp4", "video/3gpp", "3gp"),
    ],
)
def test_iso_bmff_video_accepted(store: MediaStore, brand: bytes, mime: str, ext: str) -> None:
    data = mp4_bytes(brand)
    result = store.store(put(store, data), "video", "VID_1.mp4")
    assert (result.kind, result.mime) == ("video", mime)
    assert result.relative_path.endswith("." + ext)
    assert store.open_stored(result.relative_path).read_bytes() == data


def test_mp4_sent_as_document_is_a_video(store: MediaStore) -> None:
    assert store.store(put(store, mp4_bytes()), "document", None).kind == "video"


def test_bad_iso_bmff_refused(store: MediaStore) -> None:
    assert reject(store, mp4_bytes(moov=False), "video").reason_code == "broken_file"
    err = reject(store, mp4_bytes(handler=b"soun"), "video")
    assert (err.reason_code, err.details["detected"]) == ("unsupported_type", "audio/mp4")
    err = reject(store, mp4_bytes()[:-10], "video")  # truncated mdat
    assert err.reason_code == "broken_file"
    # HEIC photos are decoded (and converted to JPEG): one that cannot be is a broken photo.
    heic = box(b"ftyp", b"heic" + bytes(4) + b"mif1heic") + box(b"meta", bytes(20))
    err = reject(store, heic, "photo")
    assert (err.reason_code, err.details["detected"]) == ("broken_image", "image/heic")
    sequence = box(b"ftyp", b"hevc" + bytes(4) + b"mif1hevc") + box(b"meta", bytes(20))
    err = reject(store, sequence, "photo")
    assert (err.reason_code, err.details["detected"]) == ("unsupported_type",
                                                          "image/heic-sequence")


def test_matroska_family(store: MediaStore) -> None:
    result = store.store(put(store, webm_bytes()), "video", None)
    assert result.mime == "video/webm" and result.relative_path.endswith(".webm")
    result = store.store(put(store, webm_bytes(b"matroska")), "video", None)
    assert result.mime == "video/x-matroska" and result.relative_path.endswith(".mkv")
    assert reject(store, webm_bytes(b"foo"), "video").reason_code == "unsupported_type"
    assert reject(store, b"\x1a\x45\xdf\xa3\x9f", "video").reason_code == "broken_file"


def test_allow_lists_come_from_limits(tmp_path: Path) -> None:
    strict = MediaStore(tmp_path / "m", MediaLimits(video_mime_types=frozenset({"video/mp4"})))
    err = reject(strict, webm_bytes(), "video")
    assert err.details == {"detected": "video/webm", "kind": "video"}
    with pytest.raises(ValueError, match="no content check"):
        MediaLimits(document_mime_types=frozenset({"text/plain"}))


# ------------------------------------------------------------------------------ sizes


def test_check_declared_size() -> None:
    check_declared_size("photo", 9 * MB)
    check_declared_size("video", None)
    with pytest.raises(MediaRejected) as info:
        check_declared_size("photo", 11 * MB)
    assert info.value.reason_code == "too_large"
    assert info.value.details == {
        "kind": "photo",
        "size_bytes": 11 * MB,
        "limit_bytes": 10 * MB,
        "limit_mb": 10.0,
    }
    # A 30 MB video is within the video limit but over the cloud Bot API's download cap.
    with pytest.raises(MediaRejected) as info:
        check_declared_size("video", 30 * MB)
    assert info.value.reason_code == "too_large_to_download"
    assert info.value.details["limit_mb"] == 20.0
    local = MediaLimits(download_limit_bytes=None)  # self-hosted Bot API server
    check_declared_size("video", 30 * MB, local)
    with pytest.raises(MediaRejected) as info:
        check_declared_size("video", 60 * MB, local)
    assert info.value.reason_code == "too_large" and info.value.details["limit_mb"] == 50.0
    with pytest.raises(MediaRejected) as info:
        check_declared_size("document", 21 * MB)
    assert info.value.reason_code == "too_large"  # 20 MB document limit = download cap
    with pytest.raises(ValueError):
        check_declared_size("sticker", 1)


def test_store_refuses_over_limit_after_download(tmp_path: Path) -> None:
    s = MediaStore(tmp_path / "m", MediaLimits(max_document_bytes=1000))
    assert s.check_declared_size("document", None) is None
    err = reject(s, pdf_bytes() + b"%" * 1000)
    assert err.reason_code == "too_large" and err.details["limit_bytes"] == 1000


def test_large_file_streamed_not_read_whole(tmp_path: Path) -> None:
    s = MediaStore(tmp_path / "m", MediaLimits(download_limit_bytes=None))
    path = s.new_temp_path()
    mdat_len = 30 * MB
    with path.open("wb") as f:
        f.write(mp4_bytes()[: -(8 + 2048)])  # everything but the mdat box
        f.write(struct.pack(">I4s", 8 + mdat_len, b"mdat"))
        chunk = bytes(range(256)) * 4096
        for _ in range(mdat_len // len(chunk)):
            f.write(chunk)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        result = s.store(path, "video", None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.size == size and result.mime == "video/mp4"
    assert peak < 4 * MB  # 1 MiB chunks, never the whole 30 MB


# ------------------------------------------------------------------------------ storage


@pytest.mark.parametrize(
    ("name", "display"),
    [
        ("../../etc/passwd", "passwd"),
        ("/etc/cron.d/x.pdf", "x.pdf"),
        ("C:\\Users\\budi\\Laporan.pdf", "Laporan.pdf"),
        ("nul\x00byte.jpg", "nul byte.jpg"),  # control chars become spaces
        ("foto\u202egpj.exe", "fotogpj.exe"),  # RTL override: no spoofed display
        ("Rapat  Desa\tTamiang\nLayang.jpg", "Rapat Desa Tamiang Layang.jpg"),
        ("Kegiatan ꦧꦫꦶꦠꦺ & Дом é.jpg", "Kegiatan ꦧꦫꦶꦠꦺ & Дом é.jpg"),
        ("👨\u200d👩\u200d👧 keluarga.jpg", "👨\u200d👩\u200d👧 keluarga.jpg"),
        ("..", None),
        ("/", None),
        ("", None),
        (None, None),
    ],
)
def test_sanitize_display_name(name: str | None, display: str | None) -> None:
    assert sanitize_display_name(name) == display


def test_sanitize_long_name_keeps_extension() -> None:
    out = sanitize_display_name("laporan " * 100 + ".pdf")
    assert out is not None and len(out) <= 120 and out.endswith("….pdf")
    out = sanitize_display_name("x" * 500)
    assert out is not None and len(out) == 120


@pytest.mark.parametrize(
    "name",
    [
        "../../../../tmp/evil.jpg",
        "/etc/passwd",
        "..\\..\\windows\\system32\\x.jpg",
        "\x00",
        "ﾟ" * 300 + ".jpg",
        "a" * 5000,
        "foto/../../../x\u202e.jpg",
    ],
)
def test_hostile_names_never_become_paths(tmp_path: Path, name: str) -> None:
    root = tmp_path / "media"
    s = MediaStore(root, MediaLimits())
    photo = s.store(put(s, jpeg_bytes()), "photo", name)
    doc = s.store(put(s, pdf_bytes()), "document", name)
    for result in (photo, doc):
        assert result.display_name is None or (
            "/" not in result.display_name and "\x00" not in result.display_name
        )
        assert result.display_name is None or len(result.display_name) <= 120
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 3  # photo, its thumbnail, the pdf
    for p in files:
        assert p.resolve().is_relative_to(root.resolve())
        relative = p.relative_to(root).as_posix()
        assert p.parent.parent == root and storage._REL_PATH.fullmatch(relative)


def test_duplicates_reused_not_rewritten(store: MediaStore) -> None:
    first = store.store(put(store, pdf_bytes()), "document", "a.pdf")
    path = store.open_stored(first.relative_path)
    before = path.stat()
    again = store.store(put(store, pdf_bytes()), "document", "b.pdf")
    assert again.duplicate is True and first.duplicate is False
    assert again.relative_path == first.relative_path and again.display_name == "b.pdf"
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    p1 = store.store(put(store, jpeg_bytes(orientation=3)), "photo", None)
    p2 = store.store(put(store, jpeg_bytes(orientation=3)), "document", None)
    assert (p1.duplicate, p2.duplicate) == (False, True)
    assert p2.sha256 == p1.sha256 and p2.thumbnail_path == p1.thumbnail_path
    assert_tmp_clean(store)


def test_missing_thumbnail_is_recreated_on_duplicate(store: MediaStore) -> None:
    first = store.store(put(store, jpeg_bytes()), "photo", None)
    assert first.thumbnail_path is not None
    store.open_stored(first.thumbnail_path).unlink()
    again = store.store(put(store, jpeg_bytes()), "photo", None)
    assert again.duplicate is True
    assert store.open_stored(first.thumbnail_path).is_file()


def test_stored_files_are_private_to_the_service(store: MediaStore) -> None:
    result = store.store(put(store, pdf_bytes()), "document", None)
    assert store.open_stored(result.relative_path).stat().st_mode & 0o777 == 0o640


def test_crash_during_rename_leaves_no_partial_file(
    store: MediaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", boom)
    for data, kind in ((pdf_bytes(), "document"), (jpeg_bytes(), "photo")):
        path = put(store, data)
        with pytest.raises(OSError, match="disk full"):
            store.store(path, kind, None)
        assert not path.exists()
        assert_tmp_clean(store)
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_temp_path_must_come_from_the_store(store: MediaStore, tmp_path: Path) -> None:
    outside = tmp_path / "precious.pdf"
    outside.write_bytes(pdf_bytes())
    with pytest.raises(ValueError):
        store.store(outside, "document", None)
    assert outside.exists()  # never deleted
    link = store.tmp_dir / "link.part"
    link.symlink_to(outside)
    with pytest.raises(ValueError):
        store.store(link, "document", None)
    assert outside.exists() and not link.exists()
    sticker = put(store, pdf_bytes())
    with pytest.raises(ValueError):
        store.store(sticker, "sticker", None)
    assert_tmp_clean(store)


def test_discard_and_cleanup_temp(store: MediaStore, tmp_path: Path) -> None:
    a = store.new_temp_path()
    assert a.parent == store.tmp_dir and a.exists()
    store.discard_temp(a)
    assert not a.exists()
    outside = tmp_path / "keep"
    outside.write_bytes(b"x")
    store.discard_temp(outside)
    assert outside.exists()
    old = store.new_temp_path()
    fresh = store.new_temp_path()
    os.utime(old, (1, 1))
    assert store.cleanup_stale_temp(3600) == 1
    assert not old.exists() and fresh.exists()


def test_open_stored(store: MediaStore, tmp_path: Path) -> None:
    result = store.store(put(store, pdf_bytes()), "document", None)
    assert store.open_stored(result.relative_path) == store.root / result.relative_path
    sha = result.sha256
    for bad in (
        "../secret",
        "/etc/passwd",
        f"{sha[:2]}/../../{sha}.pdf",
        f"/{sha[:2]}/{sha}.pdf",
        f"ff/{sha}.pdf" if sha[:2] != "ff" else f"00/{sha}.pdf",
        f"{sha[:2]}/{sha}.pdf\x00",
        f"{sha[:2]}/{sha}.PDF",
        "tmp/in-x.part",
        "",
    ):
        with pytest.raises(InvalidMediaPath):
            store.open_stored(bad)
    with pytest.raises(FileNotFoundError):
        store.open_stored("ab/ab" + "0" * 62 + ".jpg")
    # A symlink planted in the tree cannot lead outside the root.
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"x")
    fake = "cd" + "1" * 62
    (store.root / "cd").mkdir(exist_ok=True)
    (store.root / "cd" / f"{fake}.jpg").symlink_to(secret)
    with pytest.raises(InvalidMediaPath):
        store.open_stored(f"cd/{fake}.jpg")


def test_media_rejected_codes() -> None:
    err = MediaRejected("too_large", limit_mb=10.0)
    assert err.reason_code == "too_large" and err.details == {"limit_mb": 10.0}
    assert str(err) == "too_large(limit_mb=10.0)"
    with pytest.raises(ValueError):
        MediaRejected("because")
    assert {
        "empty",
        "too_large",
        "too_large_to_download",
        "unsupported_type",
        "broken_file",
        "broken_image",
        "image_too_big",
        "archive_bomb",
    } == REASON_CODES
