"""What a file really is, judged by its bytes, not by its name."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

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
        with path.open("rb") as handle:
            return DetectedType("application/pdf", "document") if handle.read(5) == b"%PDF-" else None
    if extension in _OFFICE_MARKERS:
        marker, mime_type = _OFFICE_MARKERS[extension]
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError):
            return None
        return DetectedType(mime_type, "document") if {"[Content_Types].xml", marker} <= names else None
    return None  # an extension we cannot verify is not accepted


def _detect_image(path: Path, expected_format: str) -> DetectedType | None:
    try:
        with Image.open(path) as image:
            if image.format != expected_format:
                return None
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return DetectedType(_IMAGE_MIME[expected_format], "image", width, height)
