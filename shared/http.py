"""Small HTTP building blocks shared by every router."""

import os
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import Path, Request
from fastapi.responses import FileResponse
from starlette.responses import MalformedRangeHeader
from starlette.responses import RangeNotSatisfiable as Unsatisfiable

from shared.errors import RangeNotSatisfiable

# Set on the scope of a HEAD request, which routing sees as a GET (shared/middleware.py).
HEAD_REQUEST = "magnetiq.head"

# Keys are 32-bit integers on PostgreSQL (INTEGER), 64-bit on SQLite: one bound for both, so a request
# gets the same answer on either engine (422 past it), never an overflow in the driver (a 500).
MAX_ID = 2**31 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="Numeric id")]


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an If-Match / If-None-Match header names this ETag (weak or strong, or `*`)."""
    if not header:
        return False
    bare = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == bare:
            return True
    return False


class _RangedFile(FileResponse):
    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        # A HEAD request sends the file's headers only; routing saw it as a GET.
        await super().__call__({**scope, "method": "HEAD"} if scope.get(HEAD_REQUEST) else scope, receive, send)

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except MalformedRangeHeader:
            return []  # RFC 9110 §14.2: a Range the server cannot make sense of is ignored; the whole file goes


def file_response(
    request: Request, path: FilePath, *, media_type: str, filename: str, disposition: str, headers: dict[str, str]
) -> FileResponse:
    """A file with Range support: a range past its end is a 416 in the error envelope, a malformed one ignored."""
    stat = os.stat(path)
    http_range = request.headers.get("range")
    if http_range and "if-range" not in request.headers:
        try:
            _RangedFile._parse_range_header(http_range, stat.st_size)
        except Unsatisfiable:
            raise RangeNotSatisfiable(headers={"Content-Range": f"bytes */{stat.st_size}"}) from None
    return _RangedFile(
        path, media_type=media_type, filename=filename, content_disposition_type=disposition, headers=headers,
        stat_result=stat,
    )
