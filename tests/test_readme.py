"""What a newcomer reads and runs first (README, `make run`) matches what the code does."""

from __future__ import annotations

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
