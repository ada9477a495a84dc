"""The soak harness in its smoke mode (tests/soak): the real processes, the faults and every check,
in about two minutes instead of ten. `make soak` runs the full one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.soak.harness import SoakConfig, run_soak

# The run is processes and timing: it is heavy, and it says so for `-m "not soak"`.
pytestmark = pytest.mark.soak


def test_the_soak_harness_survives_its_faults_in_smoke_mode(tmp_path: Path) -> None:
    config = SoakConfig.smoke(float(os.environ.get("SOAK_SMOKE_SECONDS", "75")))
    report = run_soak(config, tmp_path / "soak")
    print(report.text())
    failed = [check for check in report.checks if not check.ok]
    assert not failed, report.text()
    # The faults really happened and the load really ran.
    assert {"campaign_started", "killed", "api_replaced", "sink_stopped", "sink_started"} <= set(
        dict(item.split(" ") for item in str(report.figures["events (s into the load)"]).split(", "))
    )
    assert len(report.outcomes) > config.seconds * config.rate * 0.5
