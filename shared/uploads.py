"""Receives a multipart upload as a stream, to disk, stopping the moment it is too large.

python-multipart parses; we only decide where each part's bytes go. The file part is
hashed and counted as it arrives and never held in memory as a whole. Every slice that takes
a file (media, whitepaper documents, contact imports) receives it here.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from shared.config import MAX_FILE_SIZE_CEILING
from shared.errors import PayloadTooLarge, ValidationFailed

MAX_FIELD_BYTES = 16 * 1024
MULTIPART_OVERHEAD = 64 * 1024
# Upload routes lift the app's small body limit to this outer bound (declared when routes are
# built, before settings exist); receive_upload cuts each stream at the configured MAX_FILE_SIZE.
UPLOAD_BODY_LIMIT = MAX_FILE_SIZE_CEILING + MULTIPART_OVERHEAD


@dataclass
class ReceivedUpload:
    path: Path | None = None
    client_filename: str = ""
    size: int = 0
    sha256: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def sanitize_filename(name: str) -> str:
    """A display name from whatever the client sent: no directories, no control or odd characters."""
    name = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[^\w.\- ]+", "_", name).strip(" .")
    return name[:150] or "upload"


class _Receiver:
    def __init__(self, incoming_dir: Path, max_file_size: int) -> None:
        self.incoming_dir = incoming_dir
        self.max_file_size = max_file_size
        self.upload = ReceivedUpload()
        self._hash = hashlib.sha256()
        self._file = None
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._header_value = b""
        self._field_name: str | None = None
        self._field_value = bytearray()
        self._is_file = False
        self._form_bytes = 0

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._append("_header_field", data[start:end]),
            "on_header_value": lambda data, start, end: self._append("_header_value", data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _count_form_bytes(self, size: int) -> None:
        # Everything but the file's bytes (part headers, other fields) shares one small budget,
        # so a chunked body without Content-Length cannot grow memory with endless small fields.
        self._form_bytes += size
        if self._form_bytes > MULTIPART_OVERHEAD:
            raise PayloadTooLarge(f"Besides the file, a form may carry at most {MULTIPART_OVERHEAD} bytes")

    def _append(self, attribute: str, data: bytes) -> None:
        self._count_form_bytes(len(data))
        setattr(self, attribute, getattr(self, attribute) + data)

    def _part_begin(self) -> None:
        self._headers, self._field_name, self._field_value, self._is_file = {}, None, bytearray(), False

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._field_name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._field_name == "file" and b"filename" in options:
            if self.upload.path is not None:
                raise ValidationFailed("Send one file per upload", field="file")
            self._is_file = True
            self.upload.client_filename = options[b"filename"].decode("utf-8", "replace")
            handle, name = tempfile.mkstemp(dir=self.incoming_dir, prefix="upload-")
            self._file = os.fdopen(handle, "wb")
            self.upload.path = Path(name)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._is_file:
            self.upload.size += len(chunk)
            if self.upload.size > self.max_file_size:
                raise PayloadTooLarge(f"Files may be at most {self.max_file_size} bytes")
            self._hash.update(chunk)
            self._file.write(chunk)
        elif self._field_name:
            self._count_form_bytes(len(chunk))
            self._field_value += chunk
            if len(self._field_value) > MAX_FIELD_BYTES:
                raise ValidationFailed(f"{self._field_name} is too long", field=self._field_name)

    def _part_end(self) -> None:
        if self._is_file:
            self._file.close()
            self._file = None
        elif self._field_name:
            self.upload.fields[self._field_name] = self._field_value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def receive_upload(request: Request, *, upload_dir: Path, max_file_size: int) -> ReceivedUpload:
    """Streams the request body into a temporary file beside the final store (same filesystem)."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise ValidationFailed("Send the file as multipart/form-data in a field named 'file'", field="file")
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > max_file_size + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(f"Files may be at most {max_file_size} bytes")

    incoming_dir = upload_dir / ".incoming"
    incoming_dir.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(incoming_dir, max_file_size)
    parser = MultipartParser(options[b"boundary"], receiver.callbacks())
    try:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
            parser.finalize()
        except FormParserError as exc:
            raise ValidationFailed("The multipart body is malformed", field="file") from exc
    except Exception:
        receiver.close()
        receiver.upload.discard()  # nothing half-written stays behind
        raise
    receiver.close()
    if receiver.upload.path is None:
        raise ValidationFailed("No file was sent in the field 'file'", field="file")
    receiver.upload.sha256 = receiver._hash.hexdigest()
    return receiver.upload
