import pytest
from pydantic import ValidationError

from shared.config import Settings


def test_production_refuses_the_default_secret_key():
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(_env_file=None, environment="production")


def test_production_refuses_a_short_secret_key():
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(_env_file=None, environment="production", secret_key="too-short")


def test_production_accepts_a_long_random_key():
    settings = Settings(_env_file=None, environment="production", secret_key="x" * 48)
    assert settings.environment == "production"


def test_comma_separated_variables_become_lists(monkeypatch):
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("SUPPORTED_LANGUAGES", "de,en,fr")
    settings = Settings(_env_file=None)
    assert settings.allowed_origins == ["https://a.example", "https://b.example"]
    assert settings.default_language == "de"


def test_invalid_values_are_refused_at_start(monkeypatch):
    monkeypatch.setenv("SMTP_PORT", "not-a-port")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("BOOKING_TIMEZONE", "Mars/Olympus"), ("BOOKING_DAYS", "weekdays"), ("BOOKING_HOURS", "9 to 5"),
     ("BOOKING_HOURS", "25:00-26:00")],
)
def test_bad_booking_settings_are_refused_at_start(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.lower()):
        Settings(_env_file=None)


def test_booking_settings_accept_ranges_lists_and_breaks(monkeypatch):
    monkeypatch.setenv("BOOKING_DAYS", "mon-wed,sat")
    monkeypatch.setenv("BOOKING_HOURS", "09:00-12:00, 13:00-17:30")
    assert Settings(_env_file=None).booking_hours == "09:00-12:00, 13:00-17:30"
