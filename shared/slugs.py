"""Slugs: lowercase words joined by hyphens, unique among an entity's live (not deleted) rows."""

from typing import Annotated, Any

from pydantic import StringConstraints
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.dialect import unique_violation_columns
from shared.errors import Conflict

Slug = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]


class SlugTaken(Conflict):
    code = "SLUG_TAKEN"
    default_message = "Another item already uses this slug"


async def ensure_slug_free(session: AsyncSession, *, model: Any, slug: str, except_id: int | None = None) -> None:
    """Refuses a slug a live row of `model` already has (rows with `deleted_at` set do not count)."""
    statement = select(model.id).where(model.slug == slug)
    if hasattr(model, "deleted_at"):
        statement = statement.where(col(model.deleted_at).is_(None))
    if except_id is not None:
        statement = statement.where(model.id != except_id)
    if (await session.exec(statement)).first() is not None:
        raise SlugTaken(field="slug")


async def flush_guarding_slug(session: AsyncSession) -> None:
    """Flushes; a concurrent insert that won the slug (the unique index said so) becomes a 409."""
    try:
        await session.flush()
    except IntegrityError as exc:
        if "slug" in (unique_violation_columns(exc) or ()):
            raise SlugTaken(field="slug") from exc
        raise
