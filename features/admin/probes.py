"""What system health measures outside its own database queries: the disk, the file sizes, SQLite's
quick_check and the SMTP server. Blocking calls run in threads (one per probe at most, shared/health_checks.py).

One `SystemProbes` per process (app.state.system_probes): its seams are what tests replace, its memory
is the last quick_check answer, so each process runs quick_check at most every few minutes."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiosmtplib
from sqlalchemy.engine import make_url

from shared.config import Settings
from shared.db import sqlite_file_path, utcnow
from shared.health_checks import SingleFlight


def run_quick_check(target: str) -> str:
    """SQLite's `PRAGMA quick_check` on a read-only connection of its own: "ok" or its first problems.

    `target` a PostgreSQL URL: the data checksum failures the server has counted in this database, on a
    connection of its own ("ok" when none; with data checksums off the server counts none)."""
    if target.startswith("postgresql"):
        return asyncio.run(_postgres_checksum_failures(target))
    path = target
    connection = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        rows = connection.execute("PRAGMA quick_check(3)").fetchall()
    finally:
        connection.close()
    return "; ".join(str(row[0]) for row in rows)[:300]


async def _postgres_checksum_failures(database_url: str) -> str:
    import asyncpg  # PostgreSQL's driver: imported where PostgreSQL is used

    url = make_url(database_url)
    connection = await asyncpg.connect(host=url.query.get("host") or url.host, port=url.port, user=url.username,
                                       password=url.password, database=url.database, timeout=10)
    try:
        failures, last = await connection.fetchrow(
            "SELECT checksum_failures, checksum_last_failure FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await connection.close()
    return "ok" if not failures else f"{failures} data checksum failures, the last at {last:%Y-%m-%d %H:%M} UTC"


@dataclass
class QuickCheckAnswer:
    result: str
    at: datetime


@dataclass
class SystemProbes:
    statvfs: Callable[[str], Any] = os.statvfs  # a stand-in in tests: a disk cannot be filled for one
    check_timeout: float = 5.0  # seconds each check may take before it is reported timed out
    smtp_timeout: float = 3.0  # the whole conversation: connect, EHLO, NOOP, QUIT
    quick_check_every: timedelta = timedelta(minutes=5)
    quick_check_wait: float = 2.0  # a longer quick_check answers "running" and its result comes with a later call
    clock: Callable[[], datetime] = utcnow
    flights: SingleFlight = field(default_factory=SingleFlight)
    last_quick_check: QuickCheckAnswer | None = None

    def data_directory(self, settings: Settings) -> str:
        """The database file's directory on SQLite. On PostgreSQL the database's disk is the server's
        (often another machine, or a managed service's): what this process fills is UPLOAD_DIR, so its
        file system (the nearest directory that exists, before the first upload made it)."""
        path = sqlite_file_path(settings.database_url)
        if path:
            return os.path.dirname(os.path.abspath(path))
        if not settings.is_sqlite:
            directory = Path(settings.upload_dir).resolve()
            while not directory.exists() and directory != directory.parent:
                directory = directory.parent
            return str(directory)
        return os.getcwd()

    async def disk_space(self, settings: Settings) -> tuple[int, int]:
        """Bytes free (to unprivileged users) and in all, of the file system of data_directory."""
        usage = await self.flights.run("statvfs", self.statvfs, self.data_directory(settings))
        return usage.f_bavail * usage.f_frsize, usage.f_blocks * usage.f_frsize

    async def quick_check(self, settings: Settings) -> QuickCheckAnswer | None:
        """The last quick_check if it is recent, else a new one if it ends soon, else the last one (None
        before the first has ended): the one running meanwhile leaves its answer for a later call."""
        path = sqlite_file_path(settings.database_url) if settings.is_sqlite else settings.database_url
        last = self.last_quick_check
        if path is None or (last is not None and self.clock() - last.at < self.quick_check_every):
            return last
        try:
            async with asyncio.timeout(self.quick_check_wait):
                await self.flights.run("quick_check", self._quick_check_and_remember, path)
        except TimeoutError:
            pass
        return self.last_quick_check

    def _quick_check_and_remember(self, path: str) -> None:
        try:
            result = run_quick_check(path)
        except (TimeoutError, sqlite3.Error, OSError) as exc:  # "file is not a database", say: in question too
            result = f"{type(exc).__name__}: {exc}"[:300]
        self.last_quick_check = QuickCheckAnswer(result=result, at=self.clock())

    async def smtp_round_trip(self, settings: Settings) -> float:
        """Connect, EHLO, NOOP and QUIT within smtp_timeout; milliseconds taken. Never logs in."""
        started = time.monotonic()
        client = aiosmtplib.SMTP(
            hostname=settings.smtp_host, port=settings.smtp_port, start_tls=settings.smtp_starttls, use_tls=False,
            # socket.getfqdn() (aiosmtplib's default) may wait on DNS; the host name is enough for EHLO.
            local_hostname=socket.gethostname(), timeout=self.smtp_timeout,
        )
        try:
            async with asyncio.timeout(self.smtp_timeout):
                await client.connect()
                await client.ehlo()
                await client.noop()
                await client.quit()
        finally:
            client.close()
        return round((time.monotonic() - started) * 1000, 1)
