"""Small HTTP building blocks shared by every router."""

from typing import Annotated

from fastapi import Path

# SQLite integers are 64-bit; a larger id is simply not found, never an overflow.
MAX_ID = 2**63 - 1
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
