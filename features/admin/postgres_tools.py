"""PostgreSQL's own programs for backups and restores: pg_dump, pg_restore and psql.

They are found for the server's major version (Debian keeps them in /usr/lib/postgresql/<N>/bin, off
PATH), else on PATH. They connect by libpq's environment variables, the password among them
(PGPASSWORD): nothing of the connection is on their command line, where `ps` would show it, or in a log.

Everything here blocks: callers run it in a thread.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

DUMP_FILE = "magnetiq.dump"
PROGRAMS = ("pg_dump", "pg_restore", "psql")
ERROR_CHARS = 400  # of a program's complaint, in an operator's message


class ToolProblem(Exception):
    """A program missing or failing, said for an operator (no password: it was never on a command line)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def find_program(name: str, server_major: int | None) -> str:
    """`name` of the server's major version, else the newest of a later one, else the one on PATH.

    A pg_dump older than the server refuses to dump it, and pg_restore reads only dumps of its own
    version or older: the server's own version fits both."""
    if name not in PROGRAMS:
        raise ValueError(name)
    found = {int(Path(path).parts[-3]): path for path in glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
             if Path(path).parts[-3].isdigit()}
    if server_major in found:
        return found[server_major]
    later = sorted(major for major in found if server_major is None or major > server_major)
    if later:
        return found[later[-1]]
    on_path = shutil.which(name)
    if on_path:
        return on_path
    version = f" {server_major}" if server_major else ""
    raise ToolProblem(
        f"{name} not found: install PostgreSQL's client programs{version} "
        f"(Debian: apt-get install postgresql-client{'-' + str(server_major) if server_major else ''})"
    )


def libpq_environment(database_url: str) -> dict[str, str]:
    """The process environment plus libpq's PG* variables for `database_url` (PGPASSWORD among them)."""
    url = make_url(database_url)
    query = {key: value if isinstance(value, str) else value[0] for key, value in url.query.items()}
    settings = {
        "PGHOST": query.get("host") or url.host, "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username, "PGPASSWORD": url.password, "PGDATABASE": url.database,
        # asyncpg spells TLS `ssl=`, libpq `sslmode=`: the same values (disable, require, verify-full...).
        "PGSSLMODE": query.get("sslmode") or query.get("ssl"),
    }
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    environment.update({key: str(value) for key, value in settings.items() if value})
    return environment


def run(program: str, arguments: Sequence[str], *, database_url: str | None, what: str) -> str:
    """Runs `program` with `arguments`; its standard output, or ToolProblem with its complaint."""
    environment = libpq_environment(database_url) if database_url else dict(os.environ)
    # S603: the programs are PostgreSQL's own, found above; the arguments are paths and fixed options.
    finished = subprocess.run([program, "--no-password", *arguments], env=environment,  # noqa: S603
                              capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        complaint = " ".join(finished.stderr.split())[:ERROR_CHARS] or f"exit status {finished.returncode}"
        raise ToolProblem(f"{what} failed: {complaint}")
    return finished.stdout


def dump(database_url: str, target: Path, *, server_major: int | None, snapshot: str | None = None) -> None:
    """A custom-format dump of the database at `target`, of `snapshot` when given (an exported one)."""
    arguments = ["--format=custom", f"--file={target}"]
    if snapshot:
        arguments.append(f"--snapshot={snapshot}")
    run(find_program("pg_dump", server_major), arguments, database_url=database_url, what="pg_dump")


def check_dump(path: Path, *, server_major: int | None = None) -> str | None:
    """None when pg_restore can read the dump's table of contents, else its complaint."""
    try:
        listing = run(find_program("pg_restore", server_major), ["--list", str(path)], database_url=None,
                      what="pg_restore --list")
    except ToolProblem as exc:
        return exc.message
    return None if "TABLE DATA" in listing else "the dump holds no table data"


# Everything in the database's schema is dropped, in the transaction that then loads the dump: a table
# a newer revision added and the backup lacks would otherwise stay and stop the migrations after it.
# Objects an extension owns are left to it.
_DROP_SCHEMA_OBJECTS = """
DO $$
DECLARE statement text;
BEGIN
  FOR statement IN
    SELECT format('DROP %s IF EXISTS %I.%I CASCADE',
                  CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                 WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                  n.nspname, c.relname)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
    UNION ALL
    SELECT format('DROP TYPE IF EXISTS %I.%I CASCADE', n.nspname, t.typname)
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd', 'r')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')
  LOOP
    EXECUTE statement;
  END LOOP;
END $$;
"""
LOCK_WAIT = "30s"  # a session holding one of the tables makes the restore give up (and roll back), not hang


def restore(database_url: str, source: Path, *, server_major: int | None) -> None:
    """Replaces everything in the database's schema by the dump's, in one transaction: all or nothing.

    pg_restore writes the dump as SQL (owners and grants left out: the restoring role owns what it
    creates) and psql runs it after dropping what is there, stopping at the first error. The COMMIT is
    sent only once pg_restore has written the whole dump: a dump that breaks off halfway ends psql's
    input without one, and the server rolls the transaction back, leaving the database as it was."""
    environment = libpq_environment(database_url)
    with tempfile.TemporaryFile() as script_errors, tempfile.TemporaryFile() as load_errors:
        script = subprocess.Popen(  # noqa: S603 (as in run)
            [find_program("pg_restore", server_major), "--no-owner", "--no-privileges", "--file=-", str(source)],
            stdout=subprocess.PIPE, stderr=script_errors, env=environment,
        )
        load = subprocess.Popen(  # noqa: S603
            [find_program("psql", server_major), "--no-password", "--no-psqlrc", "--quiet",
             "--set=ON_ERROR_STOP=1", "--output=/dev/null", "--file=-"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=load_errors, env=environment,
        )
        assert script.stdout is not None and load.stdin is not None
        try:
            # Notices (each table's cascade) would bury the one error an operator needs.
            prelude = f"SET lock_timeout = '{LOCK_WAIT}';\nSET client_min_messages = warning;\nBEGIN;\n"
            load.stdin.write(f"{prelude}{_DROP_SCHEMA_OBJECTS}\n".encode())
            while chunk := script.stdout.read(1 << 20):
                load.stdin.write(chunk)
            if script.wait() == 0:
                load.stdin.write(b"\nCOMMIT;\n")
            load.stdin.close()
        except BrokenPipeError:  # psql stopped at an error: its message says which
            pass
        finally:
            script.stdout.close()
            script.wait()
            load.wait()
        complaint = lambda file: " ".join(_read(file).split())[:ERROR_CHARS]  # noqa: E731
        # psql's complaint first: a psql that stopped early makes pg_restore fail on the closed pipe too.
        if load.returncode != 0:
            raise ToolProblem("loading the dump failed, nothing was changed: "
                              + (complaint(load_errors) or f"psql exit status {load.returncode}"))
        if script.returncode != 0:
            raise ToolProblem("pg_restore failed, nothing was changed: "
                              + (complaint(script_errors) or f"exit status {script.returncode}"))


def _read(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode(errors="replace")
