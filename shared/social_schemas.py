"""Bodies every social network's slice shares (CONTRACT.md §5 "LinkedIn and X"): connecting accounts,
provider media, engagement. Posts differ per network and live in each slice's schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl

from shared.http import MAX_ID
from shared.oauth import REDIRECT_URI_MAX_LENGTH
from shared.publishing import AccountStatus, PostStatus
from shared.timefields import UtcDatetime

ScheduledAt = Annotated[
    UtcDatetime,
    Field(description="When the worker publishes it, with an offset; stored in UTC. Null: a draft"),
]
QueryTime = UtcDatetime  # a time in a query, in UTC
MediaIds = Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(description="Media items (images)")]


def _storable(url: HttpUrl) -> HttpUrl:
    # HttpUrl bounds what was sent; its normalized text (what is stored) can be longer.
    if len(str(url)) > REDIRECT_URI_MAX_LENGTH:
        raise ValueError(f"URL should have at most {REDIRECT_URI_MAX_LENGTH} characters")
    return url


class AccountAuthorize(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"redirect_uri": "https://admin.example.com/oauth/callback"}]}
    )

    redirect_uri: Annotated[HttpUrl, AfterValidator(_storable)] | None = Field(
        default=None, description="Where the provider sends the browser back; default: the configured one"
    )


class AuthorizationStaffView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "authorization_url": "https://www.linkedin.com/oauth/v2/authorization?response_type=code&state=…",
        "state": "6Zb0…", "expires_at": "2030-01-01T12:10:00Z",
    }]})

    authorization_url: str
    state: str = Field(description="Single use, valid 10 minutes; comes back with the provider's redirect")
    expires_at: datetime


class AccountConnect(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "AQT…", "state": "6Zb0…"}]})

    code: str = Field(min_length=1, max_length=2000, description="The `code` of the provider's redirect")
    state: str = Field(min_length=1, max_length=200, description="The `state` of the provider's redirect")


class SocialAccountStaffView(BaseModel):
    """A connected account; never a token."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": 1, "provider_user_id": "yX2k9aB3", "display_name": "Ada Lovelace", "status": "active",
        "status_reason": None, "scopes": ["openid", "profile", "w_member_social"],
        "token_expires_at": "2030-03-01T12:00:00Z", "postponed_until": None,
        "created_at": "2030-01-01T12:00:00Z", "updated_at": "2030-01-01T12:00:00Z",
    }]})

    id: int
    provider_user_id: str
    display_name: str
    status: AccountStatus = Field(description="active, expiring (within 7 days) or reconnect_required")
    status_reason: str | None
    scopes: list[str]
    token_expires_at: datetime | None
    postponed_until: datetime | None = Field(description="A rate limit holds this account's posts until then")
    created_at: datetime
    updated_at: datetime


class ProviderMediaStaffView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "media_id": 12, "account_id": 1, "provider_media_id": "urn:li:image:C4E10AQ", "expires_at": None,
    }]})

    media_id: int = Field(description="The media item (media slice)")
    account_id: int
    provider_media_id: str
    expires_at: datetime | None = Field(description="When the provider forgets it; null: never")


class EngagementPost(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "post_id": 3, "metrics": {"impressions": 120, "reactions": 8}, "fetched_at": "2030-01-02T12:00:00Z",
    }]})

    post_id: int
    metrics: dict[str, int]
    fetched_at: datetime


class EngagementStaffView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "totals": {"impressions": 120, "reactions": 8},
        "posts": [
            {"post_id": 3, "metrics": {"impressions": 120, "reactions": 8}, "fetched_at": "2030-01-02T12:00:00Z"},
        ],
    }]})

    totals: dict[str, int] = Field(description="Each metric summed over the posts' latest figures")
    posts: list[EngagementPost]


class EngagementSnapshotView(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "fetched_at": "2030-01-02T12:00:00Z", "metrics": {"impressions": 120},
    }]})

    fetched_at: datetime
    metrics: dict[str, int]


class PostEngagementStaffView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "post_id": 3, "status": "published", "metrics": {"impressions": 120}, "fetched_at": "2030-01-02T12:00:00Z",
        "history": [{"fetched_at": "2030-01-02T12:00:00Z", "metrics": {"impressions": 120}}],
    }]})

    post_id: int
    status: PostStatus
    metrics: dict[str, int] = Field(description="The latest figures; empty before the first fetch")
    fetched_at: datetime | None
    history: list[EngagementSnapshotView] = Field(description="Every snapshot, newest first")


class SocialAccountsHealth(BaseModel):
    """One network's accounts in system health: whether the app is configured, and how many are in each state."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "configured": True, "active": 2, "expiring": 1, "reconnect_required": 0,
    }]})

    configured: bool = Field(description="Its client id, secret and redirect URI are set")
    active: int
    expiring: int = Field(description="The token ends within 7 days: reconnect soon")
    reconnect_required: int


class PostQueue(BaseModel):
    """One network's posts waiting on the worker or on a person, for system health."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"due": 0, "unknown": 1}]})

    due: int = Field(description="Scheduled posts whose time has come and that no worker took yet")
    unknown: int = Field(description="Posts whose publishing got no answer: a person checks the provider, then resets")
