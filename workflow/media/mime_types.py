"""The MIME type names the pipeline uses, each with how an accepted one is stored or decoded."""

from __future__ import annotations

from typing import Final

JPEG: Final = "image/jpeg"
PNG: Final = "image/png"
WEBP: Final = "image/webp"
HEIC: Final = "image/heic"  # iPhone photos sent as a file
HEIF: Final = "image/heif"
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
STORED_EXTENSION: Final[dict[str, str]] = {
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
# The only Pillow decoder allowed to open each accepted photo type.
PILLOW_FORMAT: Final[dict[str, str]] = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP", HEIC: "HEIF",
                                         HEIF: "HEIF"}
