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
