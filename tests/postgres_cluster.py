"""A throwaway PostgreSQL cluster for the test suite: `python -m tests.postgres_cluster [pytest args]`.

`make test-postgres` runs this. It makes a cluster in a temporary folder (initdb), starts it on a free
loopback port (pg_ctl) as an unprivileged user (PostgreSQL refuses to run as root; as root we use
`nobody`), runs pytest with DATABASE_URL pointing at it, then stops the cluster and deletes the folder.
Durability is switched off: the cluster lives for one run and is never recovered (`make
bench-postgres` starts one with durability on, tests/benchmarks/postgres.py).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

SUPERUSER = "postgres"


def bin_dir() -> Path:
    """Debian keeps the server binaries per major version, off PATH; the newest installed one."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise SystemExit("PostgreSQL is not installed (make test-postgres installs Debian's postgresql)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_unprivileged(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *command]


# The suite's cluster lives for one run and is never recovered: durability off.
TEST_SETTINGS = {
    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
    "max_connections": "300", "shared_buffers": "128MB",
}


@contextmanager
def cluster(settings: Mapping[str, str] = TEST_SETTINGS) -> Iterator[str]:
    """Starts a cluster with these server settings and yields its URL for SQLAlchemy's asyncpg dialect."""
    binaries = bin_dir()
    root = Path(tempfile.mkdtemp(prefix="magnetiq-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
    port = _free_port()
    run = lambda *args: subprocess.run(_as_unprivileged([str(a) for a in args]), check=True, cwd=root)  # noqa: E731
    try:
        run(binaries / "initdb", "-D", data, "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
            "--locale=C.UTF-8", "--no-sync", "--no-instructions")
        options = " ".join([
            f"-p {port}", "-c listen_addresses=127.0.0.1", f"-c unix_socket_directories={root}",
            *(f"-c {name}={value}" for name, value in settings.items()),
        ])
        run(binaries / "pg_ctl", "-D", data, "-o", options, "-l", root / "server.log", "-w", "start")
        try:
            yield f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(_as_unprivileged([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                           check=False, cwd=root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> int:
    started = time.monotonic()
    with cluster() as url:
        print(f"PostgreSQL test cluster at {url}", flush=True)
        environment = {**os.environ, "DATABASE_URL": url}
        code = subprocess.run([sys.executable, "-m", "pytest", *argv], env=environment, check=False).returncode
    print(f"PostgreSQL run took {time.monotonic() - started:.0f} s (exit {code})", flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:] or ["features", "tests"]))
