"""PostgreSQL benchmarks: `make bench-postgres` (or `python -m tests.benchmarks.postgres`).

A throwaway cluster (tests/postgres_cluster.py) with PostgreSQL's durable defaults: fsync,
synchronous commit and full page writes on, as an operator runs it (the suite's cluster turns them
off). Ours is `magnetiq serve --workers N` on it for N in 1, 2 and 4; for each N, three scenarios
against the bare FastAPI references of `make bench`, started with the same N processes in the same
run: the cached public page read and the authenticated staff page list against reference_app.py
returning the same JSON from a dict, and the webinar registration against reference_insert_app.py
inserting one row into the same PostgreSQL cluster. Every run alternates with its reference
(ABAB, ROUNDS times), so a slow spell of the shared machine weighs on both sides. With 4
processes the registration also runs against a SQLite file (ours and the SQLite reference, 4
processes each) in the same alternation. wrk, the servers and PostgreSQL share the machine.

After each registration scenario every address that got a 201 is looked up in the database. The
run fails when one of ours answers anything but 2xx, a socket error or timeout included, or when
an accepted registration is missing; the ratios are reported, not judged (no target yet).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.benchmarks.run import (
    BIN,
    CONNECTIONS,
    PAGE,
    ROOT,
    ROUNDS,
    Result,
    _login,
    alternate,
    alternate_registrations,
    check_registrations,
    prepare_magnetiq,
    publish_webinar,
    registration_url,
    serve_magnetiq,
    start_server,
    start_smtp_sink,
    stop,
    stored_emails,
    wrk,
)
from tests.postgres_cluster import cluster

PROCESSES = (1, 2, 4)
# Shorter than `make bench`'s 10 s: 40 runs of wrk (every scenario alternating with its reference,
# ROUNDS times) keep the whole target near 8 minutes.
DURATION = os.environ.get("BENCH_DURATION", "6s")
# A request still queued after wrk's default 2 s is slow, not lost: wait for it and let p99 say so
# (a timeout would still count as an error).
WRK = {"duration": DURATION, "timeout": "10s"}
WARM_UP = "2s"
# Durability stays PostgreSQL's default. Connections: each process pools up to 15 (5 + 10 overflow),
# ours and the reference run side by side at 4 processes.
BENCH_SETTINGS = {"max_connections": "200", "shared_buffers": "128MB"}
PAGES = 20  # a full first page of the staff list at its default limit


@dataclass
class Row:
    scenario: str
    engine: str
    processes: int
    ours: Result
    reference: Result
    load: float  # the 1-minute load average right after the row was measured


DURABILITY = ("fsync", "synchronous_commit", "full_page_writes")


def prepare_cluster(url: str) -> str:
    """Refuses a cluster that does not flush its commits (the figures would flatter PostgreSQL),
    and creates a second database for the reference's table; its URL."""
    import asyncpg

    async def prepare() -> None:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            settings = {name: await connection.fetchval(f"SHOW {name}") for name in DURABILITY}
            if set(settings.values()) != {"on"}:
                raise SystemExit(f"the benchmark cluster must be durable, not {settings}")
            await connection.execute('CREATE DATABASE "reference"')
        finally:
            await connection.close()

    asyncio.run(prepare())
    return f"{url.rsplit('/', 1)[0]}/reference"


def prepare_reference_insert(env: dict[str, str]) -> dict[str, str]:
    """Creates the reference's table once, before several processes would race to create it."""
    subprocess.run([str(BIN / "python"), "-m", "tests.benchmarks.reference_insert_app"], env={**os.environ, **env},
                   cwd=ROOT, check=True, capture_output=True)
    return env


def seed_pages(app_url: str, headers: dict[str, str]) -> None:
    """The public page of `make bench` and more of its size, so the staff list returns a full page."""
    for number in range(PAGES):
        page = PAGE if number == 0 else {**PAGE, "slug": f"benchmark-page-{number}"}
        httpx.post(f"{app_url}/api/v1/content/pages", json=page, headers=headers).raise_for_status()


def bench_reads(app_url: str, headers: dict[str, str], processes: int) -> list[Row]:
    public_url = f"{app_url}/api/v1/public/pages/benchmark-page?lang=en"
    list_url = f"{app_url}/api/v1/content/pages"
    page_body = httpx.get(public_url).content
    list_body = httpx.get(list_url, headers=headers).content
    assert len(json.loads(list_body)["items"]) == PAGES
    reference, reference_url = start_server(
        "tests.benchmarks.reference_app:app",
        {"REFERENCE_PAGE_JSON": page_body.decode(), "REFERENCE_LIST_JSON": list_body.decode()}, workers=processes)
    try:
        assert httpx.get(f"{reference_url}/page").content == page_body
        assert httpx.get(f"{reference_url}/list").json() == json.loads(list_body)
        # Each process fills its own page cache and connection pool on its first requests.
        wrk("warm-up", public_url, duration=WARM_UP)
        wrk("warm-up", list_url, headers=headers, duration=WARM_UP)
        reference_page, ours_page, reference_list, ours_list = alternate([
            ("reference page", lambda _round: wrk("reference page", f"{reference_url}/page", **WRK)),
            ("public page", lambda _round: wrk("public page", public_url, **WRK)),
            ("reference list", lambda _round: wrk("reference list", f"{reference_url}/list", **WRK)),
            ("staff page list", lambda _round: wrk("staff page list", list_url, headers=headers, **WRK)),
        ])
        load = os.getloadavg()[0]
        rows = [
            Row(f"public page read ({len(page_body):,} B, cached)", "PostgreSQL", processes, ours_page,
                reference_page, load),
            Row(f"staff page list, bearer token ({PAGES} pages, {len(list_body):,} B)", "PostgreSQL", processes,
                ours_list, reference_list, load),
        ]
        return rows
    finally:
        stop([reference])


@dataclass
class Target:
    """A registration endpoint under test and where its database is read back."""

    engine: str
    app_url: str
    headers: dict[str, str]
    database_url: str
    reference_env: dict[str, str]


def bench_registrations(workdir: Path, targets: list[Target], processes: int) -> list[Row]:
    """Ours and the bare insert on each target's engine, all alternating in one run."""
    started, runs, webinars = [], [], []
    try:
        for target in targets:
            webinar_id = publish_webinar(target.app_url, target.headers, f"benchmark-webinar-{processes}")
            reference, reference_url = start_server("tests.benchmarks.reference_insert_app:app",
                                                    target.reference_env, workers=processes)
            started.append(reference)
            webinars.append(webinar_id)
            label = f"{target.engine.lower()}-{processes}"
            runs += [(f"reference-{label}", f"{reference_url}/register"),
                     (f"ours-{label}", registration_url(target.app_url, webinar_id))]
        results = alternate_registrations(workdir, runs, **WRK)
    finally:
        stop(started)
    rows = []
    for number, (target, webinar_id) in enumerate(zip(targets, webinars, strict=True)):
        (reference, _), (ours, accepted_dir) = results[2 * number], results[2 * number + 1]
        ours.name = ""
        check_registrations(ours, accepted_dir, stored_emails(target.database_url, webinar_id))
        rows.append(Row(f"webinar registration{ours.name}", target.engine, processes, ours, reference,
                        os.getloadavg()[0]))
    return rows


def bench_processes(processes: int, env: dict[str, str], reference_env: dict[str, str], workdir: Path,
                    sqlite: tuple[dict[str, str], dict[str, str]] | None) -> list[Row]:
    """Every scenario against `magnetiq serve --workers processes` on PostgreSQL (and, given its
    settings and its reference's, the registration on SQLite beside it)."""
    servers = []
    try:
        app, app_url = serve_magnetiq(env, workers=processes)
        servers.append(app)
        headers = _login(app_url)
        if processes == PROCESSES[0]:
            seed_pages(app_url, headers)
        rows = bench_reads(app_url, headers, processes)
        targets = [Target("PostgreSQL", app_url, headers, env["DATABASE_URL"], reference_env)]
        if sqlite:
            sqlite_env, sqlite_reference_env = sqlite
            sqlite_app, sqlite_url = serve_magnetiq(sqlite_env, workers=processes)
            servers.append(sqlite_app)
            targets.append(Target("SQLite", sqlite_url, _login(sqlite_url), sqlite_env["DATABASE_URL"],
                                  sqlite_reference_env))
        folder = workdir / f"registrations-{processes}"
        folder.mkdir()
        return rows + bench_registrations(folder, targets, processes)
    finally:
        stop(servers)


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bench-postgres installs it)")
    # Terminated (make interrupted, a CI timeout): unwind, so the servers and the cluster are stopped.
    signal.signal(signal.SIGTERM, lambda _signal, _frame: sys.exit(143))
    load_before, started = os.getloadavg(), time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="magnetiq-pgbench-"))
    sink = start_smtp_sink()
    rows: list[Row] = []
    try:
        with cluster(BENCH_SETTINGS) as url:
            reference_env = prepare_reference_insert({"REFERENCE_DATABASE_URL": prepare_cluster(url)})
            print(f"PostgreSQL benchmark cluster at {url} ({', '.join(DURABILITY)} on)", flush=True)
            env = prepare_magnetiq(workdir, url)
            (workdir / "sqlite").mkdir()
            sqlite = (prepare_magnetiq(workdir / "sqlite"),
                      prepare_reference_insert({"REFERENCE_DB_PATH": str(workdir / "sqlite" / "reference.db")}))
            for processes in PROCESSES:
                rows += bench_processes(processes, env, reference_env, workdir,
                                        sqlite if processes == PROCESSES[-1] else None)
                print(f"  {processes} process(es) done at {time.monotonic() - started:.0f} s, load average "
                      f"{os.getloadavg()[0]:.1f}", flush=True)
    finally:
        stop([sink])
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nThe run took {time.monotonic() - started:.0f} s.")
    if print_tables(rows, load_before):
        raise SystemExit("a benchmark of ours answered errors or lost registrations (errors column)")


def print_tables(rows: list[Row], load_before: tuple[float, float, float]) -> bool:
    """Prints both tables; returns whether one of ours had an error."""
    print(f"\nwrk: {CONNECTIONS} connections, {DURATION} per run; registrations {ROUNDS} rounds alternating "
          f"with the reference. Load average before the run {load_before[0]:.1f} / {load_before[1]:.1f} / "
          f"{load_before[2]:.1f}, after {' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1 / 5 / 15 min).\n")
    print("| scenario | engine | API processes | req/s | p50 ms | p99 ms | errors | reference req/s "
          "(same process count) | ratio to reference | load avg |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    failed = False
    for row in rows:
        ours, reference = row.ours, row.reference
        failed |= ours.errors > 0
        reference_rps = f"{reference.rps:,.0f}" + (f" ({reference.errors} errors)" if reference.errors else "")
        print(f"| {row.scenario} | {row.engine} | {row.processes} | {ours.rps:,.0f} | {ours.p50_ms:.2f} "
              f"| {ours.p99_ms:.2f} | {ours.errors} | {reference_rps} | {ours.rps / reference.rps:.2f} "
              f"| {row.load:.1f} |")
    by_engine = {row.engine: row for row in rows if row.scenario.startswith("webinar") and row.processes == 4}
    if {"PostgreSQL", "SQLite"} <= by_engine.keys():
        postgres, sqlite = by_engine["PostgreSQL"], by_engine["SQLite"]
        print("\nRegistration with 4 API processes, PostgreSQL against SQLite in the same alternation:\n")
        print("| figure | PostgreSQL | SQLite | PostgreSQL / SQLite |")
        print("| --- | ---: | ---: | ---: |")
        for label, value in [("ours, req/s", lambda row: row.ours.rps),
                             ("bare insert reference, req/s", lambda row: row.reference.rps),
                             ("ours, p99 ms", lambda row: row.ours.p99_ms)]:
            print(f"| {label} | {value(postgres):,.0f} | {value(sqlite):,.0f} | {value(postgres) / value(sqlite):.2f} |")
    sys.stdout.flush()
    return failed


if __name__ == "__main__":
    main()
