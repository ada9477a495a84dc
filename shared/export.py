"""CSV exports for staff lists: every matching row, streamed; properly quoted, safe in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

import anyio
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from shared.db import Database

# Rows fetched and written per step: memory stays flat however many rows an export has.
EXPORT_BATCH = 1000
_BOM = "\ufeff"  # makes Excel read UTF-8

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    # A cell starting like a formula would run in Excel or Sheets (CSV injection): quote it as text.
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


class _CsvWriter:
    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")

    def rows(self, rows: Iterable[Sequence[Any]]) -> bytes:
        for row in rows:
            self._writer.writerow([_cell(value) for value in row])
        data = self._buffer.getvalue().encode("utf-8")
        self._buffer.seek(0)
        self._buffer.truncate()
        return data


def csv_bytes(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A whole CSV document in memory (small exports, tests)."""
    writer = _CsvWriter()
    return _BOM.encode() + writer.rows([columns]) + writer.rows(rows)


async def _csv_chunks(database: Database, statement: Any, columns: Sequence[str]) -> AsyncIterator[bytes]:
    writer = _CsvWriter()
    yield _BOM.encode() + writer.rows([columns])
    # Its own read transaction: one consistent snapshot, while writers carry on (WAL).
    session = database.reader()
    try:
        result = await session.stream_scalars(statement)
        async for batch in result.partitions(EXPORT_BATCH):
            yield writer.rows([getattr(item, name) for name in columns] for item in batch)
    finally:
        # A client that hangs up cancels this task; unshielded, the close would be cancelled too
        # and the connection, with its open snapshot, would stay checked out until GC.
        with anyio.CancelScope(shield=True):
            await session.close()


class _ClosingStreamingResponse(StreamingResponse):
    """Closes its generator when the response ends, however it ends.

    Starlette abandons the body iterator when the client hangs up mid-download; left to the
    garbage collector, the generator's cleanup (returning its database connection) runs late,
    outside any task, and fails.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def csv_download(filename: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """A small table (a report, not a list of rows from the database) as a CSV download, in one piece."""
    return Response(csv_bytes(columns, rows), media_type="text/csv; charset=utf-8", headers=_attachment(filename))


def csv_export(database: Database, filename: str, columns: Sequence[str], statement: Any) -> StreamingResponse:
    """Every row `statement` selects, as a CSV download of `columns` (attributes of each row), streamed."""
    return _ClosingStreamingResponse(
        _csv_chunks(database, statement, columns),
        media_type="text/csv; charset=utf-8",
        headers=_attachment(filename),
    )


CSV_RESPONSE = {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV when ?format=csv"}
