"""The reference for public writes: a bare FastAPI app inserting one row through SQLModel's
AsyncSession into a WAL SQLite file (REFERENCE_DB_PATH), or into the database at
REFERENCE_DATABASE_URL (PostgreSQL, for `make bench-postgres`) with SQLAlchemy's default pool.

`python -m tests.benchmarks.reference_insert_app` creates the table and exits: the benchmark does
so before starting several processes, which would otherwise race to create it."""

import asyncio
import os
from datetime import UTC, datetime

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, event
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

URL = os.environ.get("REFERENCE_DATABASE_URL") or f"sqlite+aiosqlite:///{os.environ['REFERENCE_DB_PATH']}"
engine = create_async_engine(URL)


@event.listens_for(engine.sync_engine, "connect")
def _pragmas(connection, _record):
    if not URL.startswith("sqlite"):
        return
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


class Lead(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    first_name: str
    last_name: str
    email: str
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True)))  # asyncpg refuses aware values otherwise


class LeadIn(BaseModel):
    first_name: str
    last_name: str
    email: str
    consent_marketing: bool


app = FastAPI()


@app.on_event("startup")
async def create_table() -> None:
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)


@app.post("/register", status_code=201)
async def register(body: LeadIn) -> dict:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        lead = Lead(first_name=body.first_name, last_name=body.last_name, email=body.email, created_at=datetime.now(UTC))
        session.add(lead)
        await session.commit()
        return {"id": lead.id}


if __name__ == "__main__":
    asyncio.run(create_table())
