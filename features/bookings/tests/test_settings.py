"""BOOKING_TIMEZONE, BOOKING_DAYS and BOOKING_HOURS: read by this slice, refused at start when malformed."""

from pathlib import Path

import pytest

from features.bookings.service import settings_problem
from shared.config import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None, environment="test", worker_enabled=False,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [("BOOKING_TIMEZONE", "Mars/Olympus"), ("BOOKING_DAYS", "weekdays"), ("BOOKING_HOURS", "9 to 5"),
     ("BOOKING_HOURS", "25:00-26:00")],
)
def test_bad_booking_settings_are_refused_at_start(monkeypatch, tmp_path, app_factory, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(RuntimeError, match=rf"{variable}: .*'{value}'"):
        app_factory(_settings(tmp_path))  # create_app


def test_every_malformed_booking_setting_is_named_at_once(monkeypatch, tmp_path):
    monkeypatch.setenv("BOOKING_DAYS", "weekdays")
    monkeypatch.setenv("BOOKING_HOURS", "9 to 5")
    problem = settings_problem(_settings(tmp_path))
    assert problem is not None and "BOOKING_DAYS" in problem and "BOOKING_HOURS" in problem


def test_booking_settings_accept_ranges_lists_and_breaks(monkeypatch, tmp_path):
    monkeypatch.setenv("BOOKING_DAYS", "mon-wed,sat")
    monkeypatch.setenv("BOOKING_HOURS", "09:00-12:00, 13:00-17:30")
    settings = _settings(tmp_path)
    assert settings.booking_hours == "09:00-12:00, 13:00-17:30"
    assert settings_problem(settings) is None
