"""Users and the records that make their tokens revocable."""

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, utcnow
from shared.permissions import Role


class User(SQLModel, table=True):
    __tablename__ = "admin_users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=255, unique=True, index=True)
    hashed_password: str = Field(max_length=255)
    first_name: str = Field(max_length=100)
    last_name: str = Field(max_length=100)
    role: Role = Field(default=Role.VIEWER, max_length=16)
    is_active: bool = True
    last_login: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RefreshToken(SQLModel, table=True):
    """One issued refresh token; `family_id` ties together every token descended from one login."""

    __tablename__ = "auth_refresh_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="admin_users.id", ondelete="CASCADE", index=True)
    family_id: str = Field(max_length=64, index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)




class FailedLogin(SQLModel, table=True):
    """A login attempt counted against an account, keyed by a digest of the email (the address itself
    is not kept). Written before the password is checked, so attempts in flight count too; a
    successful login deletes its own and earlier ones."""

    __tablename__ = "auth_failed_logins"
    __table_args__ = (Index("ix_auth_failed_logins_account", "email_digest", "attempted_at"),)

    id: int | None = Field(default=None, primary_key=True)
    email_digest: str = Field(max_length=64)
    attempted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PasswordResetToken(SQLModel, table=True):
    __tablename__ = "auth_password_reset_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="admin_users.id", ondelete="CASCADE", index=True)
    token_digest: str = Field(max_length=64, unique=True)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
