"""What a newcomer reads and runs first (README, `make run`) matches what the code does."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def make_dry_run(target: str) -> list[str]:
    """The shell commands `make` would run for `target`, one per shell (continued lines joined)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    output = subprocess.run(
        ["make", "--no-print-directory", "-n", target], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return output.replace("\\\n", " ").splitlines()


def test_make_run_starts_the_mail_sink_in_the_shell_that_serves_and_stops_it_after() -> None:
    (serving,) = [line for line in make_dry_run("run") if "magnetiq serve" in line]

    assert "magnetiq mail-sink --only-if-default &" in serving
    assert "trap " in serving and "kill " in serving
    assert serving.index("mail-sink") < serving.index("trap ") < serving.index("magnetiq serve")


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_make_run_prints_the_readme_command_for_the_first_admin() -> None:
    (hint,) = [line.strip() for line in make_dry_run("run") if "create-admin" in line]
    command = hint.removeprefix("echo").strip().strip('"').strip()

    assert command.startswith(".venv/bin/magnetiq create-admin --email ")
    assert command in readme_section("Two commands"), "make run and the README must give the same command"
    email = command.split("--email ", 1)[1].split()[0]
    assert f'"email": "{email}"' in readme_section("Two commands"), "the README logs in as the admin it created"


@pytest.mark.parametrize("title", ["Two commands", "Operations"])
def test_readme_commands_name_the_console_script_where_make_install_puts_it(title: str) -> None:
    # After `make run` the console script is in .venv/bin, not on the PATH: a bare `magnetiq ...` does not run.
    section = readme_section(title)
    bare = re.findall(r"(?:`|^\s*)magnetiq [a-z-]+[^`\n]*", section, flags=re.M)

    assert bare == [], f"write .venv/bin/magnetiq: {bare}"
    assert ".venv/bin/magnetiq" in section


def test_readme_says_serve_refuses_an_old_schema_and_health_answers_503() -> None:
    operations = " ".join(readme_section("Operations").split())

    assert "refuse" in operations and "db upgrade" in operations
    assert "503" in operations and "/api/v1/health" in operations
    assert "does not migrate by itself" in operations
