"""CSV import of contacts: read off the event loop, stored in batches, each its own short write.

The file is already on disk (shared/uploads.py streamed it there, bounded). It is checked to be
UTF-8 first, so a bad file is refused before any row is stored; then each batch of rows is
parsed and validated in a worker thread and stored with a few set-based statements in a write
transaction of its own, so public writes never queue behind a whole import. A bad row is
reported (line and reason, never its content) and the rest go on.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import bindparam, func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.email.contacts import add_sources, add_tags, suppressed_digests, suppression_digest
from features.email.mails import queue_opt_ins
from features.email.models import Contact
from features.email.schemas import REJECTED_LISTED, ImportReport, ImportStatus, RejectedRow, Tag
from shared.config import Settings
from shared.db import Database, utcnow
from shared.errors import ValidationFailed
from shared.i18n import LanguageCode
from shared.visitors import Company, ReachableEmail, VisitorName, normalize_email

BATCH_ROWS = 1000  # about 11,000 bound values in the largest statement; SQLite allows 32,766
COLUMNS = ("email", "first_name", "last_name", "company", "language", "tags")
_CHUNK = 1 << 20
_contacts = Contact.__table__.c


class ImportRow(BaseModel):
    """One row as the file gives it; what does not validate is rejected with the field's name."""

    model_config = ConfigDict(extra="forbid")

    email: ReachableEmail
    first_name: VisitorName | None = None
    last_name: VisitorName | None = None
    company: Company | None = None
    language: LanguageCode | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] = []


@dataclass
class ParsedRow:
    line: int
    email: str
    digest: str
    first_name: str | None
    last_name: str | None
    company: str | None
    language: str
    tags: list[str]


@dataclass
class Batch:
    rows: list[ParsedRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


def check_utf8(path: Path) -> None:
    """Refuses a file that is not UTF-8 (a BOM is fine) with a 422 naming the first bad line."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 1
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                line = lines + chunk.count(b"\n", 0, max(exc.start, 0))
                raise ValidationFailed(
                    f"The file is not UTF-8 text (line {line}); save it as CSV UTF-8 and upload it again",
                    field="file",
                ) from None
            if not chunk:
                return
            lines += chunk.count(b"\n")


def _reason(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"][:1]) or "row"
    return f"{where}: {first['msg']}"


class CsvRows:
    """The file's rows, batch by batch; each call of `next_batch` runs in a worker thread."""

    def __init__(self, path: Path, settings: Settings) -> None:
        self.settings = settings
        self._file = path.open(encoding="utf-8-sig", newline="")
        self._reader = csv.reader(self._file)
        self._columns: dict[int, str] = {}
        self._seen: dict[str, int] = {}  # address -> the line it was first read on

    def close(self) -> None:
        self._file.close()

    def read_header(self) -> None:
        try:
            header = next(self._reader, None)
        except csv.Error as exc:
            raise ValidationFailed(f"The header row is not valid CSV: {exc}", field="file") from None
        names = [cell.strip().lower() for cell in header or []]
        self._columns = {index: name for index, name in enumerate(names) if name in COLUMNS}
        if "email" not in self._columns.values():
            raise ValidationFailed(
                "The first line must be a comma-separated header with an `email` column "
                f"(and any of: {', '.join(COLUMNS[1:])})", field="file",
            )

    def _records(self) -> Iterator[tuple[int, list[str] | None, str | None]]:
        while True:
            line = self._reader.line_num + 1
            try:
                record = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield line, None, f"not valid CSV: {exc}"
                continue
            yield line, record, None

    def next_batch(self) -> Batch | None:
        batch = Batch()
        for line, record, problem in self._records():
            if record is not None and not any(cell.strip() for cell in record):
                continue  # a blank line
            if record is None:
                batch.rejected.append(RejectedRow(row=line, reason=problem or "not valid CSV"))
            else:
                self._parse(line, record, batch)
            if len(batch.rows) + len(batch.rejected) >= BATCH_ROWS:
                return batch
        return batch if batch.rows or batch.rejected else None

    def _parse(self, line: int, record: list[str], batch: Batch) -> None:
        cells: dict[str, Any] = {}
        for index, name in self._columns.items():
            value = record[index].strip() if index < len(record) else ""
            if value:
                cells[name] = value
        if "language" in cells:
            cells["language"] = cells["language"].lower()
        if "tags" in cells:
            cells["tags"] = list(dict.fromkeys(tag.strip() for tag in cells["tags"].split(";") if tag.strip()))
        try:
            row = ImportRow.model_validate(cells)
        except ValidationError as exc:
            batch.rejected.append(RejectedRow(row=line, reason=_reason(exc)))
            return
        if row.language is not None and row.language not in self.settings.supported_languages:
            reason = f"language: unknown language; use one of: {', '.join(self.settings.supported_languages)}"
            batch.rejected.append(RejectedRow(row=line, reason=reason))
            return
        email = normalize_email(row.email)
        if email in self._seen:
            batch.rejected.append(RejectedRow(row=line, reason=f"email: a duplicate of line {self._seen[email]}"))
            return
        self._seen[email] = line
        batch.rows.append(ParsedRow(
            line=line, email=email, digest=suppression_digest(self.settings, email), first_name=row.first_name,
            last_name=row.last_name, company=row.company or None,
            language=row.language or self.settings.default_language, tags=row.tags,
        ))


_FILL = (
    update(Contact.__table__)
    .where(_contacts.id == bindparam("contact_id"))
    .values(
        first_name=func.coalesce(_contacts.first_name, bindparam("first_name")),
        last_name=func.coalesce(_contacts.last_name, bindparam("last_name")),
        company=func.coalesce(_contacts.company, bindparam("company")),
        status=bindparam("new_status"), consent_at=bindparam("new_consent_at"),
        consent_origin=bindparam("new_consent_origin"), updated_at=bindparam("now"),
    )
)


def _status_after_import(current: str, wanted: ImportStatus) -> str:
    """Unsubscribed and bounced stay so, subscribed stays subscribed; the rest take the import's status."""
    if current in ("unsubscribed", "bounced", "subscribed"):
        return current
    if current == "pending" and wanted == "pending":
        return current  # its opt-in mail went out already
    return wanted


async def store_batch(
    session: AsyncSession, *, rows: list[ParsedRow], status: ImportStatus, rejected: list[RejectedRow]
) -> tuple[int, int]:
    """Stores one batch in the caller's transaction; returns (imported, updated)."""
    suppressed = await suppressed_digests(session, digests=(row.digest for row in rows))
    for row in rows:
        if row.digest in suppressed:
            rejected.append(RejectedRow(row=row.line, reason="email: the address belonged to an erased contact"))
    rows = [row for row in rows if row.digest not in suppressed]
    if not rows:
        return 0, 0
    existing = {
        email: (contact_id, current, consent_at, consent_origin)
        for contact_id, email, current, consent_at, consent_origin in await session.exec(
            select(Contact.id, Contact.email, Contact.status, Contact.consent_at, Contact.consent_origin)
            .where(col(Contact.email).in_([row.email for row in rows]))
        )
    }
    now = utcnow()
    consent = (now, "import") if status == "subscribed" else (None, None)
    connection = await session.connection()
    new = [row for row in rows if row.email not in existing]
    ids: dict[str, int] = {}
    to_confirm: list[tuple[int, str]] = []
    if new:
        await connection.execute(insert(Contact.__table__), [
            {
                "email": row.email, "first_name": row.first_name, "last_name": row.last_name, "company": row.company,
                "language": row.language, "status": status, "consent_at": consent[0], "consent_origin": consent[1],
                "soft_bounces": 0, "created_at": now, "updated_at": now,
            }
            for row in new
        ])
        ids = dict((await session.exec(
            select(Contact.email, Contact.id).where(col(Contact.email).in_([row.email for row in new]))
        )).all())
        if status == "pending":
            to_confirm += [(ids[row.email], row.email) for row in new]
    fills = []
    for row in rows:
        if row.email not in existing:
            continue
        contact_id, current, consent_at, consent_origin = existing[row.email]
        ids[row.email] = contact_id
        after = _status_after_import(current, status)
        if after != current:
            consent_at, consent_origin = consent if after == "subscribed" else (consent_at, consent_origin)
            if after == "pending":
                to_confirm.append((contact_id, row.email))
        fills.append({
            "contact_id": contact_id, "first_name": row.first_name, "last_name": row.last_name,
            "company": row.company, "new_status": after, "new_consent_at": consent_at,
            "new_consent_origin": consent_origin, "now": now,
        })
    if fills:
        await connection.execute(_FILL, fills)
    await add_tags(session, rows=[{"contact_id": ids[row.email], "tag": tag} for row in rows for tag in row.tags])
    sources = [{"contact_id": ids[row.email], "source": "import", "created_at": now} for row in rows]
    await add_sources(session, rows=sources)
    await queue_opt_ins(session, contacts=to_confirm)
    return len(new), len(fills)


async def import_csv(database: Database, *, settings: Settings, path: Path, status: ImportStatus) -> ImportReport:
    """Imports a CSV file of contacts (source `import`); rows are stored batch by batch, each in its own write."""
    await asyncio.to_thread(check_utf8, path)
    source = await asyncio.to_thread(CsvRows, path, settings)
    imported = updated = rejected_count = 0
    listed: list[RejectedRow] = []
    following: asyncio.Future[Batch | None] | None = None
    try:
        await asyncio.to_thread(source.read_header)
        batch = await asyncio.to_thread(source.next_batch)
        while batch is not None:
            # The next batch is parsed while this one is stored.
            following = asyncio.ensure_future(asyncio.to_thread(source.next_batch))
            async with database.session() as session:
                new, known = await store_batch(session, rows=batch.rows, status=status, rejected=batch.rejected)
            imported, updated = imported + new, updated + known
            rejected_count += len(batch.rejected)
            batch.rejected.sort(key=lambda rejected: rejected.row)
            listed.extend(batch.rejected[: max(0, REJECTED_LISTED - len(listed))])
            batch, following = await following, None
    finally:
        if following is not None:  # a failed write: let the parse finish before the file closes
            await asyncio.wait([following])
        source.close()
    return ImportReport(imported=imported, updated=updated, rejected=listed, rejected_count=rejected_count)
