"""Lists: ?limit=&offset=, ?sort=field|-field on documented fields, ?q= search, and the list body."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, exists, func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from shared.dialect import casefold, localized_values
from shared.errors import ValidationFailed
from shared.examples import list_example

T = TypeVar("T")

LIKE_ESCAPE = "\\"


def contains_pattern(search: str) -> str:
    """A case-folded LIKE pattern matching `search` anywhere; its own % and _ match only themselves.

    Compare it with `casefold(column)` (shared/dialect.py), as `text_contains` does.
    """
    escaped = search.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def text_contains(column: Any, search: str) -> ColumnElement[bool]:
    """Rows whose text column has `search` in it, whatever the case, its own % and _ taken literally."""
    return casefold(column).like(contains_pattern(search), escape=LIKE_ESCAPE)


def localized_text_contains(column: Any, search: str) -> ColumnElement[bool]:
    """Rows whose localized JSON column ({"en": ..., "de": ...}) has `search` in a value, in any language."""
    values = localized_values(column)
    return exists(select(1).select_from(values).where(text_contains(values.c.value, search)))


class ListParams(BaseModel):
    limit: int = 20
    offset: int = 0


async def _list_params(
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page (at most 100)")] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip")] = 0,
) -> ListParams:
    return ListParams(limit=limit, offset=offset)


Pagination = Annotated[ListParams, Depends(_list_params)]


def _list_page_example(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    # Called for each ListPage[Item]: its example shows the item model's own, never placeholders.
    args = cls.__pydantic_generic_metadata__["args"]
    if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        with contextlib.suppress(LookupError):  # an item without an example: tests/test_openapi_examples.py says so
            schema["examples"] = [list_example(args[0])]


class ListPage(BaseModel, Generic[T]):
    """The body of every list: one page of items and where it lies, `{items, total, limit, offset}`."""

    model_config = ConfigDict(json_schema_extra=_list_page_example)

    items: list[T]
    total: int
    limit: int
    offset: int


def sort_order(sort: str | None, columns: Mapping[str, Any], default: Sequence[Any]) -> list[Any]:
    """ORDER BY for `field` or `-field`; an undocumented field is a 422 naming the allowed ones."""
    if not sort:
        return list(default)
    name = sort.removeprefix("-")
    if name not in columns:
        raise ValidationFailed(
            f"Cannot sort by '{name}'; use one of: {', '.join(sorted(columns))}", field="sort"
        )
    column = columns[name]
    descending = sort.startswith("-")
    order = column.desc() if descending else column.asc()
    if _nullable(column):
        # A missing value sorts as the smallest on every engine: first ascending, last descending.
        # That is SQLite's rule; PostgreSQL's default is the reverse. Left off a NOT NULL column,
        # where it changes nothing, so PostgreSQL can still read the order from its index.
        order = order.nulls_last() if descending else order.nulls_first()
    # The default order breaks ties so pages never repeat or skip rows.
    return [order, *default]


def _nullable(column: Any) -> bool:
    """Whether a sort column may hold NULL (an expression, not a column, is taken to)."""
    return bool(getattr(getattr(column, "expression", column), "nullable", True))


async def paginate(
    session: AsyncSession, *, statement: SelectOfScalar[T], params: ListParams, order_by: Sequence[Any]
) -> tuple[list[T], int]:
    total = (await session.exec(select(func.count()).select_from(statement.order_by(None).subquery()))).one()
    rows = await session.exec(statement.order_by(*order_by).limit(params.limit).offset(params.offset))
    return list(rows.all()), total
