"""The reference for public writes: a bare FastAPI app inserting one row through SQLModel's
AsyncSession into a WAL SQLite file (REFERENCE_DB_PATH)."""

import os
from datetime import UTC, datetime

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

engine = create_async_engine(f"sqlite+aiosqlite:///{os.environ['REFERENCE_DB_PATH']}")


@event.listens_for(engine.sync_engine, "connect")
def _pragmas(connection, _record):
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
    created_at: datetime


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
