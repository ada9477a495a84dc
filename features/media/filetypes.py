"""What a file really is, judged by its bytes, not by its name."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

_IMAGE_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "gif": "GIF"}
_OFFICE_MARKERS = {
    "docx": ("word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": ("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pptx": ("ppt/presentation.xml", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
}
_IMAGE_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif"}


@dataclass(frozen=True)
class DetectedType:
    mime_type: str
    kind: str  # image or document
    width: int | None = None
    height: int | None = None


def detect(path: Path, extension: str) -> DetectedType | None:
    """The type if the bytes are what the extension claims, else None."""
    if extension in _IMAGE_FORMATS:
        return _detect_image(path, _IMAGE_FORMATS[extension])
    if extension == "pdf":
        return DetectedType("application/pdf", "document") if _looks_like_pdf(path) else None
    if extension in _OFFICE_MARKERS:
        marker, mime_type = _OFFICE_MARKERS[extension]
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except Exception:  # hostile archives fail in many ways (bad headers, names, versions): none is a file we keep
            return None
        return DetectedType(mime_type, "document") if {"[Content_Types].xml", marker} <= names else None
    return None  # an extension we cannot verify is not accepted


def _looks_like_pdf(path: Path) -> bool:
    # A PDF starts with its header and ends with an end-of-file marker (trailing whitespace or a
    # few bytes of junk are tolerated, as readers do): a renamed HTML page has neither.
    with path.open("rb") as handle:
        if handle.read(5) != b"%PDF-":
            return False
        size = handle.seek(0, 2)
        handle.seek(max(0, size - 1024))
        return b"%%EOF" in handle.read()


def _detect_image(path: Path, expected_format: str) -> DetectedType | None:
    try:
        with Image.open(path) as image:
            if image.format != expected_format:
                return None
            width, height = image.size
            image.verify()
    except Exception:  # Pillow's decoders raise many kinds of errors on hostile bytes: none is an image we keep
        return None
    return DetectedType(_IMAGE_MIME[expected_format], "image", width, height)
