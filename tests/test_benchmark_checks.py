"""The benchmarks' own checks (tests/benchmarks): a run that loses registrations or answers errors
must not report a good figure. The benchmarks themselves run with `make bench` and
`make bench-postgres`, not in the suite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests import engines
from tests.benchmarks.postgres import Row, prepare_cluster, print_tables
from tests.benchmarks.run import Result, check_registrations, stored_emails


def accepted(folder: Path, *emails: str) -> Path:
    folder.mkdir()
    (folder / "accepted-1-1.txt").write_text("".join(f"{email}\n" for email in emails))
    return folder


def test_an_accepted_registration_missing_from_the_database_counts_as_an_error(tmp_path: Path) -> None:
    result = Result("ours", rps=100, p50_ms=1, p99_ms=2, errors=0, created=2)

    check_registrations(result, accepted(tmp_path / "a", "a@example.com", "b@example.com"), {"a@example.com"})

    assert result.errors == 1
    assert "2 accepted, 1 of them stored" in result.name


def test_registrations_stored_beyond_those_accepted_are_no_error(tmp_path: Path) -> None:
    # Requests in flight when wrk stops are stored but their 201 is never read.
    result = Result("ours", rps=100, p50_ms=1, p99_ms=2, errors=0, created=1)

    check_registrations(result, accepted(tmp_path / "a", "a@example.com"), {"a@example.com", "late@example.com"})

    assert result.errors == 0


def test_stored_emails_reads_one_webinars_registrations_from_the_database(tmp_path: Path) -> None:
    database = tmp_path / "bench.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE webinar_registrations (webinar_id INTEGER, email TEXT)")
        connection.executemany("INSERT INTO webinar_registrations VALUES (?, ?)",
                               [(1, "a@example.com"), (1, "b@example.com"), (2, "c@example.com")])

    assert stored_emails(f"sqlite+aiosqlite:///{database}", 1) == {"a@example.com", "b@example.com"}


def row(engine: str, errors: int = 0, reference_errors: int = 0) -> Row:
    return Row("webinar registration", engine, 4, Result("ours", 50, 10, 20, errors, 100),
               Result("reference", 100, 5, 10, reference_errors), load=1.0)


def test_the_postgres_tables_fail_only_when_one_of_ours_has_errors(capsys) -> None:
    assert print_tables([row("PostgreSQL"), row("SQLite", reference_errors=3)], (0.0, 0.0, 0.0)) is False
    assert print_tables([row("PostgreSQL"), row("SQLite", errors=1)], (0.0, 0.0, 0.0)) is True

    printed = capsys.readouterr().out
    assert "100 (3 errors)" in printed  # a reference's errors are shown beside its rate
    assert "| ours, req/s | 50 | 50 | 1.00 |" in printed  # PostgreSQL against SQLite at 4 processes


@pytest.mark.postgres_only
def test_the_postgres_benchmark_refuses_a_cluster_that_does_not_flush_its_commits() -> None:
    # The suite's own cluster runs with fsync off: fast for tests, flattering for a benchmark.
    with pytest.raises(SystemExit, match="must be durable"):
        prepare_cluster(engines.database_url("postgres"))
