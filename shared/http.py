"""Small HTTP building blocks shared by every router."""

from typing import Annotated

from fastapi import Path

# SQLite integers are 64-bit; a larger id is simply not found, never an overflow.
MAX_ID = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="Numeric id")]
