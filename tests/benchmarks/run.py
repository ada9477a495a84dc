"""Benchmarks: each endpoint against a reference measured in the same run by the same load generator.

Run with `make bench` (or `python -m tests.benchmarks.run http`, `... campaign`, `... import` or
`... analytics` for one group). Servers are real uvicorn processes (one worker each) on loopback; wrk generates the
load (64 connections, 10 s per endpoint). The table shows requests per second, p50, p99, errors
and the ratio to the reference. Campaign sending has its own table (campaign.py), and so have the
CSV contact import (import_contacts.py) and the admin analytics over a seeded year (analytics.py). The run fails when a figure misses its target.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.benchmarks.analytics import bench_analytics, print_analytics_table
from tests.benchmarks.campaign import bench_campaign, print_campaign_table
from tests.benchmarks.import_contacts import bench_import_alone, print_import_table

CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
DURATION = os.environ.get("BENCH_DURATION", "10s")
# Write benchmarks alternate reference and ours this many times (ABAB...), so a slow spell of
# the machine weighs on both sides alike.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
# Starting the app imports every slice: several seconds a process on a loaded machine.
STARTUP_SECONDS = 90
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    created: int = 0  # 201 responses counted by the Lua script, where one is used


def combined(name: str, rounds: list[Result]) -> Result:
    """Rounds of one endpoint as one row: mean rates and medians, the worst p99, every error."""
    count = len(rounds)
    return Result(
        name, sum(r.rps for r in rounds) / count, sum(r.p50_ms for r in rounds) / count,
        max(r.p99_ms for r in rounds), sum(r.errors for r in rounds), sum(r.created for r in rounds),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SMTP_PORT = str(free_port())


def start_server(target: str, env: dict[str, str], *, factory: bool = False,
                 workers: int = 1) -> tuple[subprocess.Popen, str]:
    """A uvicorn server of `workers` processes on a free loopback port, once every process is up."""
    port = free_port()
    command = [str(BIN / "python"), "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--no-access-log", "--log-level", "info"]
    if factory:  # ours, as `magnetiq serve` runs it
        command += ["--factory", "--http", "magnetiq.http:BoundedHttpToolsProtocol"]
    return started(command, env, port, workers=workers, name=target)


def serve_magnetiq(env: dict[str, str], *, workers: int) -> tuple[subprocess.Popen, str]:
    """`magnetiq serve --workers N`, as an operator runs it."""
    port = free_port()
    command = [str(BIN / "magnetiq"), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    return started(command, env, port, workers=workers, name=f"magnetiq serve --workers {workers}")


STARTUP_LINE = "Application startup complete."


def started(command: list[str], env: dict[str, str], port: int, *, workers: int,
            name: str) -> tuple[subprocess.Popen, str]:
    """Starts the server and waits until each of its processes has logged its startup: one
    process answering would not mean the others are ready (the socket is shared)."""
    # A session of its own: killing the group reaches every worker, not only uvicorn's supervisor.
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    ready, tail = threading.Event(), deque(maxlen=20)

    def drain() -> None:  # read to the end, so a chatty server never blocks on a full pipe
        count = 0
        for line in process.stdout:
            tail.append(line)
            count += STARTUP_LINE in line
            if count >= workers:
                ready.set()

    threading.Thread(target=drain, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    if ready.wait(timeout=STARTUP_SECONDS):
        for _ in range(100):
            try:
                httpx.get(f"{base}/docs", timeout=1)
                return process, base
            except httpx.HTTPError:
                time.sleep(0.1)
    kill_group(process)
    raise SystemExit(f"server {name} did not start:\n{''.join(tail)}")


def wrk(name: str, url: str, *, script: str | None = None, script_args: tuple[str, ...] = (),
        headers: dict[str, str] | None = None, duration: str = DURATION, timeout: str | None = None) -> Result:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration}", "--latency", url]
    if timeout:  # how long wrk waits for an answer before counting a timeout (its default: 2 s)
        command[1:1] = ["--timeout", timeout]
    for header, value in (headers or {}).items():
        command[1:1] = ["-H", f"{header}: {value}"]
    if script:
        command[1:1] = ["-s", script]
        command += ["--", *script_args]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def duration_ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = (sum(map(int, socket_errors.groups())) if socket_errors else 0) + (int(non_2xx.group(1)) if non_2xx else 0)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    created = re.search(r"^CREATED (\d+)$", output, re.M)
    return Result(name, rps, duration_ms("50%"), duration_ms("99%"), errors, int(created.group(1)) if created else 0)


PARAGRAPH = "<p>Magnetiq helps B2B teams turn visitors into qualified leads with webinars and whitepapers.</p>"
PAGE = {
    "slug": "benchmark-page", "status": "published",
    "title": {"en": "A page of about two kilobytes", "de": "Eine Seite"},
    "content": {"en": PARAGRAPH * 19, "de": PARAGRAPH},
    "meta_description": {"en": "Benchmark page"}, "seo_title": {"en": "Benchmark"},
}


def prepare_magnetiq(workdir: Path, database_url: str | None = None) -> dict[str, str]:
    """Settings for our server on a fresh database (a SQLite file in workdir unless given), at head,
    with the benchmark's admin."""
    env = {
        "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        "UPLOAD_DIR": str(workdir / "media"),
        "ENVIRONMENT": "test", "WORKER_ENABLED": "false", "RATE_LIMIT_PUBLIC_PER_MINUTE": "100000000",
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": SMTP_PORT,
    }
    run_env = {**os.environ, **env}
    subprocess.run([str(BIN / "magnetiq"), "db", "upgrade"], env=run_env, check=True, capture_output=True)
    subprocess.run([str(BIN / "magnetiq"), "create-admin", "--email", "bench@example.com", "--password",
                    "bench-password-long"], env=run_env, check=True, capture_output=True)
    return env


def start_smtp_sink() -> subprocess.Popen:
    """A real SMTP server that accepts and drops mail: confirmations cost what they cost."""
    return subprocess.Popen([str(BIN / "python"), "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                             "-l", f"127.0.0.1:{SMTP_PORT}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_group(process: subprocess.Popen) -> None:
    """Kills the process and, when it leads its own session (`started`), every process in it."""
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except ProcessLookupError:
        pass
    process.wait()


def stop(servers: list[subprocess.Popen]) -> None:
    """Asks each server to shut down (uvicorn's supervisor stops its workers), then kills what is left."""
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            kill_group(server)


def _login(app_url: str) -> dict[str, str]:
    response = httpx.post(f"{app_url}/api/v1/auth/login",
                          json={"email": "bench@example.com", "password": "bench-password-long"})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def bench_public_page(app_url: str, headers: dict[str, str], servers: list) -> list:
    page = PAGE
    httpx.post(f"{app_url}/api/v1/content/pages", json=page, headers=headers).raise_for_status()
    public_url = f"{app_url}/api/v1/public/pages/benchmark-page?lang=en"
    body = httpx.get(public_url).content
    reference, reference_url = start_server("tests.benchmarks.reference_app:app", {"REFERENCE_PAGE_JSON": body.decode()})
    servers.append(reference)
    assert httpx.get(f"{reference_url}/page").json() == json.loads(body)
    hello = wrk("reference: bare FastAPI /hello", f"{reference_url}/hello")
    reference_page = wrk("reference: bare FastAPI page from a dict", f"{reference_url}/page")
    ours = wrk(f"public page read ({len(body)} B, cached)", public_url)
    return [(hello, None), (reference_page, None), (ours, (reference_page, 0.80))]


def publish_webinar(app_url: str, headers: dict[str, str], slug: str) -> int:
    """A published webinar far in the future, open to any number of registrations; its id."""
    webinar = {
        "slug": slug, "title": {"en": "Benchmark webinar"}, "description": {"en": "<p>Load</p>"},
        "starts_at": "2099-01-01T10:00:00+00:00", "duration_minutes": 60, "timezone": "Europe/Berlin",
        "presenter": "Bench", "capacity": None, "join_url": "https://meet.example/bench", "status": "published",
    }
    created = httpx.post(f"{app_url}/api/v1/business/webinars", json=webinar, headers=headers)
    created.raise_for_status()
    return created.json()["id"]


def registration_url(app_url: str, webinar_id: int) -> str:
    return f"{app_url}/api/v1/business/webinars/{webinar_id}/register"


def alternate(runs: list[tuple[str, Callable[[int], Result]]], *, rounds: int = ROUNDS) -> list[Result]:
    """Runs each (label, run of a round number) in turn, `rounds` times (ABAB...), so a slow spell
    of the machine weighs on every side alike; each one's rounds as one result."""
    results: list[list[Result]] = [[] for _ in runs]
    for round_number in range(1, rounds + 1):
        for (_label, run), done in zip(runs, results, strict=True):
            done.append(run(round_number))
    return [combined(label, done) for (label, _run), done in zip(runs, results, strict=True)]


def alternate_registrations(workdir: Path, targets: list[tuple[str, str]], *, rounds: int = ROUNDS,
                            **wrk_options: Any) -> list[tuple[Result, Path]]:
    """Registers new visitors at each (label, url) in turn (`alternate`); per target its result
    and the folder where register.lua wrote the address of each 201."""
    script = str(Path(__file__).with_name("register.lua"))
    folders = [workdir / f"accepted-{label}" for label, _url in targets]
    for folder in folders:
        folder.mkdir()

    def registering(label: str, url: str, folder: Path) -> Callable[[int], Result]:
        return lambda round_number: wrk(label, url, script=script, script_args=(str(folder), str(round_number)),
                                        **wrk_options)

    runs = [(label, registering(label, url, folder)) for (label, url), folder in zip(targets, folders, strict=True)]
    return list(zip(alternate(runs, rounds=rounds), folders, strict=True))


def stored_emails(database_url: str, webinar_id: int) -> set[str]:
    """The addresses registered for the webinar, read from the database itself (either engine)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def read() -> set[str]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    text("SELECT email FROM webinar_registrations WHERE webinar_id = :id"), {"id": webinar_id})
                return {row[0] for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def check_registrations(result: Result, accepted_dir: Path, stored: set[str]) -> None:
    """Counts every accepted registration missing from the database as an error, and says how
    many were accepted and stored in the row's name."""
    accepted = {line for path in accepted_dir.glob("accepted-*.txt") for line in path.read_text().split()}
    assert len(accepted) == result.created, "every 201 carries its address"
    missing = accepted - stored
    result.errors += len(missing)
    # (Requests in flight when wrk stops are stored but never read: stored may exceed accepted.)
    result.name += f" ({len(accepted)} accepted, {len(accepted) - len(missing)} of them stored)"


def bench_registration(app_url: str, headers: dict[str, str], servers: list, workdir: Path, database: Path) -> list:
    webinar_id = publish_webinar(app_url, headers, "benchmark-webinar")
    reference, reference_url = start_server("tests.benchmarks.reference_insert_app:app",
                                            {"REFERENCE_DB_PATH": str(workdir / "reference.db")})
    servers.append(reference)
    (baseline, _), (ours, accepted_dir) = alternate_registrations(
        workdir, [("reference", f"{reference_url}/register"), ("ours", registration_url(app_url, webinar_id))])
    baseline.name = f"reference: bare FastAPI insert via AsyncSession ({ROUNDS} rounds)"
    ours.name = f"public webinar registration ({ROUNDS} rounds, alternating)"
    check_registrations(ours, accepted_dir, stored_emails(f"sqlite+aiosqlite:///{database}", webinar_id))
    return [(baseline, None), (ours, (baseline, 0.50))]


def main() -> None:
    """`python -m tests.benchmarks.run [http|campaign|import|analytics]`: every benchmark, or one group."""
    groups = sys.argv[1:] or ["http", "campaign", "import", "analytics"]
    workdir = Path(tempfile.mkdtemp(prefix="magnetiq-bench-"))
    missed = []
    try:
        if "http" in groups and print_table(bench_http()):
            missed.append("http")
        if "campaign" in groups and print_campaign_table(bench_campaign(workdir)):
            missed.append("campaign")
        if "import" in groups and not print_import_table(bench_import_alone()):
            missed.append("import")
        if "analytics" in groups and not print_analytics_table(bench_analytics()):
            missed.append("analytics")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if missed:
        raise SystemExit(f"a benchmark missed its target (the {' and '.join(missed)} table)")


def bench_http() -> list:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bench installs it)")
    workdir = Path(tempfile.mkdtemp(prefix="magnetiq-bench-"))
    smtp_sink = start_smtp_sink()
    env = prepare_magnetiq(workdir)
    app, app_url = start_server("magnetiq.app:create_app", env, factory=True)
    servers = [smtp_sink, app]
    try:
        headers = _login(app_url)
        results = bench_public_page(app_url, headers, servers)
        results += bench_registration(app_url, headers, servers, workdir, workdir / "bench.db")
    finally:
        stop(servers)
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def print_table(results: list) -> bool:
    """Prints the table; returns whether a ratio missed its target."""
    print(f"\nwrk: {CONNECTIONS} connections, {DURATION} per endpoint, one uvicorn worker per server\n")
    print("| endpoint | req/s | p50 ms | p99 ms | errors | ratio to reference | target |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    failed = False
    for result, target in results:
        ratio, goal = "", ""
        if target:
            base, minimum = target
            value = result.rps / base.rps
            ratio, goal = f"{value:.2f}", f">= {minimum:.2f}, no errors"
            failed |= value < minimum or result.errors > 0
        print(f"| {result.name} | {result.rps:,.0f} | {result.p50_ms:.2f} | {result.p99_ms:.2f} | {result.errors} "
              f"| {ratio} | {goal} |")
    return failed


if __name__ == "__main__":
    main()
