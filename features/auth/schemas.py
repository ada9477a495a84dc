"""Request and response bodies of the auth slice (CONTRACT.md §5)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from shared.permissions import Role
from shared.text import SINGLE_LINE

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SINGLE_LINE]
# Bounded so nobody makes us hash a megabyte; the length policy itself is checked in the service.
Password = Annotated[str, Field(min_length=1, max_length=256)]
ShortText = Annotated[str, Field(min_length=1, max_length=4096)]


class Strict(BaseModel):
    """Unknown fields are refused, so nobody sets what they may not (id, hashed_password, ...)."""

    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "admin@example.com", "password": "a-long-unique-passphrase"}]}
    )
    email: EmailStr
    password: Password


class TokenPair(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"access_token": "eyJ...", "refresh_token": "eyJ...", "token_type": "bearer", "expires_in": 900}
            ]
        }
    )
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")


class RefreshRequest(Strict):
    refresh_token: ShortText


class LogoutRequest(Strict):
    refresh_token: ShortText | None = None


class UserCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "editor@example.com",
                    "password": "correct-horse-battery-staple",
                    "first_name": "Eda",
                    "last_name": "Editor",
                    "role": "editor",
                }
            ]
        },
    )
    email: EmailStr
    password: Password
    first_name: Name
    last_name: Name
    role: Role = Role.VIEWER


class UserUpdate(Strict):
    first_name: Name | None = None
    last_name: Name | None = None
    role: Role | None = None
    is_active: bool | None = None


class UserStaffView(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 2, "email": "editor@example.com", "first_name": "Eda", "last_name": "Editor",
                    "role": "editor", "is_active": True, "last_login": "2030-01-20T08:15:00Z",
                    "created_at": "2030-01-15T09:30:00Z", "updated_at": "2030-01-16T11:00:00Z", "deleted_at": None,
                }
            ]
        },
    )

    id: int
    email: str
    first_name: str
    last_name: str
    role: Role
    is_active: bool
    last_login: datetime | None
    created_at: datetime
    updated_at: datetime | None = None
    deleted_at: datetime | None = None


class ForgotPasswordRequest(Strict):
    email: EmailStr


class MessageResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"message": "If an account exists for this address, a reset link is on its way."}]
        }
    )

    message: str


class ResetPasswordRequest(Strict):
    token: ShortText
    new_password: Password
