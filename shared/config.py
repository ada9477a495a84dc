"""Settings: every variable of CONTRACT.md §3, validated once at start."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from fastapi import Depends, Request
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.token_crypto import parse_keys

DEV_SECRET_KEY = "dev-only-secret-key-change-me-before-production"
# Upload routes declare their body bound when the app is built, before settings exist: MAX_FILE_SIZE
# may not exceed it (each upload then cuts its stream at the configured size).
MAX_FILE_SIZE_CEILING = 1024 * 1024 * 1024
MIN_PRODUCTION_SECRET_LENGTH = 32

CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "production"] = "development"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    database_url: str = "sqlite+aiosqlite:///./data/magnetiq.db"
    database_pool_size: int = Field(5, ge=1, le=100)
    database_max_overflow: int = Field(10, ge=0, le=100)
    # A request waits this long for a free connection, then answers 503 SERVICE_BUSY instead of hanging.
    database_pool_timeout_seconds: float = Field(10, gt=0, le=120)
    debug: bool = False
    # Every body but an upload's is refused past this size while it is read, before it is buffered.
    max_request_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)

    allowed_origins: CommaList = ["http://localhost:8036", "http://localhost:3000"]
    allowed_methods: CommaList = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    allowed_headers: CommaList = ["*"]

    access_token_expire_minutes: int = Field(15, ge=1, le=24 * 60)
    refresh_token_expire_days: int = Field(7, ge=1, le=365)
    # A used refresh token presented again this soon is taken for a second tab, not for a thief.
    refresh_reuse_grace_seconds: int = Field(10, ge=0, le=300)

    supported_languages: CommaList = ["en", "de"]
    public_base_url: str = "http://localhost:3036"
    frontend_base_url: str = "http://localhost:8036"

    smtp_host: str = "localhost"
    smtp_port: int = Field(1025, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_from_email: str = "noreply@magnetiq.local"
    smtp_starttls: bool = False
    email_send_rate: int = Field(50, ge=1)

    max_file_size: int = Field(10 * 1024 * 1024, ge=1, le=MAX_FILE_SIZE_CEILING)
    allowed_file_types: CommaList = ["jpg", "jpeg", "png", "gif", "pdf", "docx"]
    upload_dir: str = "./data/media"

    worker_enabled: bool = True
    worker_poll_seconds: float = Field(5, gt=0)
    # Scheduled online backups by the worker; an empty BACKUP_DIR turns them off.
    backup_dir: str = ""
    backup_keep: int = Field(7, ge=1)
    backup_interval_hours: float = Field(24, gt=0)
    rate_limit_public_per_minute: int = Field(30, ge=1)
    trusted_proxies: CommaList = []

    # Their formats are the bookings slice's: it refuses a malformed one when the app starts
    # (features/bookings/calendar_rules.py, declared as its settings_check).
    booking_timezone: str = "Europe/Berlin"
    booking_days: str = "mon-fri"
    booking_hours: str = "09:00-17:00"
    booking_slot_minutes: int = Field(30, ge=5)
    booking_min_notice_hours: int = Field(24, ge=0)
    booking_max_days_ahead: int = Field(60, ge=1)

    # One Fernet key, or several comma separated (the first encrypts): shared/token_crypto.py.
    token_encryption_key: SecretStr | None = None

    linkedin_client_id: str = ""
    linkedin_client_secret: SecretStr = SecretStr("")
    linkedin_redirect_uri: str = ""
    linkedin_auth_base_url: str = "https://www.linkedin.com/oauth/v2"
    linkedin_api_base_url: str = "https://api.linkedin.com"
    linkedin_api_version: str = "202611"

    x_client_id: str = ""
    x_client_secret: SecretStr = SecretStr("")
    x_redirect_uri: str = ""
    x_authorize_url: str = "https://x.com/i/oauth2/authorize"
    x_api_base_url: str = "https://api.x.com"
    # A call to LinkedIn or X not answered within this is abandoned (its outcome is then unknown).
    provider_timeout_seconds: float = Field(20, gt=0, le=300)

    # The shared secret a mail provider sends as X-Webhook-Token with bounce reports; empty: webhook off.
    email_webhook_token: SecretStr = SecretStr("")

    # Scheduled online backups by the worker (features/admin/backups.py); an empty BACKUP_DIR: none.
    backup_dir: str = ""
    backup_keep: int = Field(7, ge=1, le=1000)
    backup_interval_hours: float = Field(24, gt=0, le=24 * 366)

    # Database upkeep (features/admin/maintenance.py).
    maintenance_wal_checkpoint_mb: int = Field(64, ge=1)  # a WAL past this is checkpointed and truncated
    maintenance_vacuum_free_ratio: float = Field(0.3, gt=0, le=1)  # VACUUM once this share of pages is free
    maintenance_quiet_seconds: int = Field(5, ge=1, le=60)  # ... and it saw at most a commit a second this long
    maintenance_vacuum_max_mb: int = Field(100, ge=1)  # a larger file is left to a VACUUM by hand
    # Rows only kept as a record, deleted this many days after they stopped mattering.
    retention_mail_days: int = Field(30, ge=1)  # delivered, skipped or failed outbox mail
    retention_token_days: int = Field(7, ge=0)  # refresh, password-reset and OAuth state records past expiry
    retention_job_days: int = Field(30, ge=1)  # schedules of jobs that no longer run (renamed or removed)

    @field_validator(
        "allowed_origins", "allowed_methods", "allowed_headers", "supported_languages",
        "allowed_file_types", "trusted_proxies", mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("supported_languages", "allowed_file_types")
    @classmethod
    def _lowercase(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must name at least one value")
        return [item.lower() for item in value]

    @field_validator("token_encryption_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("token_encryption_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_keys(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _refuse_weak_production_secret(self) -> Settings:
        if self.environment == "production":
            key = self.secret_key.get_secret_value()
            if key == DEV_SECRET_KEY or len(key) < MIN_PRODUCTION_SECRET_LENGTH:
                raise ValueError(
                    "SECRET_KEY must be set to a random value of at least "
                    f"{MIN_PRODUCTION_SECRET_LENGTH} characters when ENVIRONMENT=production "
                    "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
        return self

    @property
    def default_language(self) -> str:
        return self.supported_languages[0]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()


async def _settings_from_app(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(_settings_from_app)]
