"""Social publishing, what LinkedIn and X share: the provider interface and its typed errors, the
post state machine, the retry and rate-limit policy, and the account health rule.

Pure rules, no database: shared/social_posts.py applies them to a slice's tables (the claim, the
publish protocol, the health job). Each slice adds only its provider's protocol: a client that
implements `SocialProvider` and raises the errors below, never httpx's or its own.

States of a post:

    draft ──► scheduled ──► publishing ──► published ──► cancelled (deleted at the provider)
      │           │             │  └─────► failed ──► publishing (published again) / scheduled / cancelled
      └───────────┴► cancelled  └────────► unknown ──► failed (reset: staff checked the provider)

`publishing` is stored and committed before the provider is called, so neither a crash nor a
retry can lead to a blind second attempt; a call that may have reached the provider without an
answer (a timeout after sending) leaves `unknown`, which nothing but a person's `reset` leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from shared.db import utcnow
from shared.errors import AppError, Conflict, InvalidTransition
from shared.errors import RateLimited as TooManyRequests

PostStatus = Literal["draft", "scheduled", "publishing", "published", "failed", "cancelled", "unknown"]
POST_STATUSES: tuple[PostStatus, ...] = (
    "draft", "scheduled", "publishing", "published", "failed", "cancelled", "unknown",
)
AccountStatus = Literal["active", "expiring", "reconnect_required"]
ACCOUNT_STATUSES: tuple[AccountStatus, ...] = ("active", "expiring", "reconnect_required")

TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"scheduled", "publishing", "cancelled"}),
    "scheduled": frozenset({"draft", "publishing", "cancelled", "failed"}),
    # back to `scheduled`: the worker retries later (a 5xx before the post was taken, a rate limit)
    "publishing": frozenset({"published", "failed", "unknown", "scheduled"}),
    "failed": frozenset({"publishing", "cancelled"}),
    "unknown": frozenset({"failed"}),
    "published": frozenset({"cancelled"}),
    "cancelled": frozenset(),
}
EDITABLE: frozenset[str] = frozenset({"draft", "scheduled"})  # PUT is allowed only then

EXPIRY_WARNING = timedelta(days=7)  # an account whose token dies sooner is `expiring`
LATE_LIMIT = timedelta(hours=1)  # a scheduled post found later than this is failed, never posted late
PUBLISHING_LEASE = timedelta(minutes=15)  # a post `publishing` longer than this was left by a crash
MAX_ATTEMPTS = 5  # tries of a scheduled post against transient failures before it fails
MAX_BACKOFF = timedelta(hours=1)


def check_transition(current: str, target: str) -> None:
    """Raises 409 INVALID_TRANSITION naming both states unless `current` may become `target`."""
    if target not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(f"A post that is {current} cannot become {target}", field="status")


def check_editable(current: str) -> None:
    """Raises 409 INVALID_TRANSITION unless the post is still a draft or scheduled."""
    if current not in EDITABLE:
        raise InvalidTransition(f"A post that is {current} cannot be changed; only drafts and scheduled posts can")


# --- what a provider client speaks ------------------------------------------------------------


class ProviderError(Exception):
    """Base of every failure a provider client reports; `message` is safe to store and show (no token)."""

    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RateLimited(ProviderError):
    """429: the account's work waits until `reset_at` (None: the provider said not when; back off)."""

    def __init__(self, message: str, *, reset_at: datetime | None = None) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class ProviderUnavailable(ProviderError):
    """5xx or a connection failure. `sent=False`: the provider did not take the request (safe to
    retry); `sent=True`: it may have, so the outcome is unknown."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent
        self.retryable = not sent


class ProviderTimeout(ProviderUnavailable):
    """No answer within PROVIDER_TIMEOUT_SECONDS after the request was sent: the outcome is unknown."""

    def __init__(self, message: str) -> None:
        super().__init__(message, sent=True)


class DuplicateContent(ProviderError):
    """The provider refused the text as a duplicate of an earlier post: final, never retried."""


class Unauthorized(ProviderError):
    """401: the token is revoked or expired; the account must be reconnected."""


class ReconnectFirst(Unauthorized):
    """Nothing was sent: the account must be connected again first (its stored token no configured key
    decrypts, TOKEN_ENCRYPTION_KEY having changed, or it is marked so already). Handled as a 401 is,
    but the API answers it 409 RECONNECT_REQUIRED: the provider was not asked."""


class PermissionMissing(ProviderError):
    """403 for want of a scope the app was not granted (`scope` names it)."""

    def __init__(self, message: str, *, scope: str) -> None:
        super().__init__(message)
        self.scope = scope


class ProviderRejected(ProviderError):
    """Any other refusal (400, 404, 422): the request itself is wrong for the provider; final."""


class MediaRejected(ProviderRejected):
    """The provider refused a post for its media ids (no longer known: expired): nothing was posted,
    so the post may be sent once more with the images uploaded again."""


@dataclass(frozen=True)
class TokenSet:
    """Tokens from a code exchange or a refresh. Plain: keep them in memory, store them encrypted."""

    access_token: str = field(repr=False)  # never in a repr: a log line or a traceback would show it
    expires_at: datetime | None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Identity:
    """Who the token belongs to at the provider."""

    provider_user_id: str
    display_name: str


@dataclass(frozen=True)
class Credentials:
    """What every authenticated call needs: the provider user (the author) and a plain access token."""

    provider_user_id: str
    access_token: str = field(repr=False)


@dataclass(frozen=True)
class SegmentToPublish:
    """One post of a publication (LinkedIn: always one; X: a tweet of a thread), media already uploaded."""

    text: str
    provider_media_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class UploadedMedia:
    provider_media_id: str
    expires_at: datetime | None = None  # None: does not expire (LinkedIn); X media expire after a day


@dataclass(frozen=True)
class MediaToUpload:
    data: bytes
    mime_type: str
    filename: str = "image"


class SocialProvider(Protocol):
    """A provider client (features/<net>/client.py). Every method raises only ProviderError subclasses."""

    name: str
    media_lifetime: timedelta | None  # how long an uploaded image's id stays usable (None: for good)

    def authorization_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        """Where the admin's browser goes to grant access (code_challenge: S256, or None without PKCE)."""
        ...

    async def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        """Trades the authorization code for tokens."""
        ...

    async def fetch_identity(self, access_token: str) -> Identity:
        """The provider user behind a token."""
        ...

    async def refresh(self, refresh_token: str) -> TokenSet:
        """New tokens (a rotating refresh token comes back new). Unauthorized when impossible."""
        ...

    async def revoke(self, token: str, *, is_refresh_token: bool) -> None:
        """Revokes an access or refresh token at the provider (disconnecting an account)."""
        ...

    async def publish(self, credentials: Credentials, segment: SegmentToPublish, *, reply_to: str | None) -> str:
        """Posts one segment (replying to `reply_to` in a thread) and returns its provider id."""
        ...

    async def delete(self, credentials: Credentials, provider_post_id: str) -> None:
        """Deletes a post at the provider (one already gone is not an error)."""
        ...

    async def upload_media(self, credentials: Credentials, media: MediaToUpload) -> UploadedMedia:
        """Uploads an image owned by the credentials' user."""
        ...

    async def fetch_metrics(
        self, credentials: Credentials, provider_post_ids: Sequence[str]
    ) -> dict[str, dict[str, int]]:
        """Figures per provider post id, metric names as in CONTRACT.md; batches within the provider's limits."""
        ...


# --- what to do after a failure ----------------------------------------------------------------


def backoff(attempt: int) -> timedelta:
    """Exponential backoff after the `attempt`-th failure: 1, 2, 4 ... minutes, at most an hour."""
    exponent = min(max(0, attempt - 1), 10)  # 2**10 minutes is past the cap already
    return min(timedelta(minutes=2**exponent), MAX_BACKOFF)


@dataclass(frozen=True)
class Outcome:
    """What a publication attempt leaves: the post's next state and what happens to its account."""

    status: PostStatus
    error: str | None = None
    retry_at: datetime | None = None  # with status `scheduled`: when the worker tries again
    account_postponed_until: datetime | None = None  # the account's work waits until then
    reconnect_required: bool = False  # the account's token is dead
    provider_error: ProviderError | None = field(default=None, compare=False)


def failure_outcome(error: ProviderError, *, attempts: int, by_worker: bool, now: datetime) -> Outcome:
    """The policy, in one place. A publish asked for by a person fails at once and says why; the
    worker retries what is safe to retry: a 429 waits for the reset (or backs off exponentially
    without one), a 5xx or connection failure before the provider took the request backs off,
    up to MAX_ATTEMPTS. A timeout after sending is `unknown`, a duplicate final, a 401 fails the
    post and marks the account `reconnect_required`."""
    if isinstance(error, RateLimited):
        until = error.reset_at if error.reset_at and error.reset_at > now else now + backoff(attempts)
        text = f"rate limited by the provider until {until.isoformat(timespec='seconds')}"
        if by_worker:
            return Outcome("scheduled", text, retry_at=until, account_postponed_until=until, provider_error=error)
        return Outcome("failed", text, account_postponed_until=until, provider_error=error)
    if isinstance(error, ProviderUnavailable) and error.sent:
        return Outcome(
            "unknown",
            f"{error.message}; the provider may or may not have published it: check there, then reset the post",
            provider_error=error,
        )
    if isinstance(error, ProviderUnavailable):
        if by_worker and attempts < MAX_ATTEMPTS:
            return Outcome("scheduled", error.message, retry_at=now + backoff(attempts), provider_error=error)
        return Outcome("failed", error.message, provider_error=error)
    if isinstance(error, Unauthorized):
        return Outcome(
            "failed", f"{error.message}; reconnect the account", reconnect_required=True, provider_error=error
        )
    return Outcome("failed", error.message, provider_error=error)


# --- account health ----------------------------------------------------------------------------


def account_health(
    *, reconnect_required: bool, token_expires_at: datetime | None, can_refresh: bool,
    refresh_expires_at: datetime | None = None, now: datetime,
) -> AccountStatus:
    """`reconnect_required` (a 401 seen, or the token dead with no way to refresh it), `expiring`
    (what keeps the account connected dies within 7 days), else `active`. With a refresh token
    the access token's expiry does not matter, the refresh token's does (when known)."""
    if reconnect_required:
        return "reconnect_required"
    deadline = refresh_expires_at if can_refresh else token_expires_at
    if deadline is None:
        return "active"
    if deadline <= now:
        return "reconnect_required"
    return "expiring" if deadline - now <= EXPIRY_WARNING else "active"


# --- how the API answers them ------------------------------------------------------------------


class ReconnectRequired(Conflict):
    code = "RECONNECT_REQUIRED"
    default_message = "The account's access has expired or was revoked; connect it again"


class ProviderNotConfigured(AppError):
    status_code = 503
    code = "PROVIDER_NOT_CONFIGURED"
    default_message = "The provider's client credentials are not configured"


class ProviderRequestFailed(AppError):
    status_code = 502
    code = "PROVIDER_ERROR"
    default_message = "The provider refused or failed the request"


class ProviderPermissionMissing(ProviderRequestFailed):
    """The app lacks a scope at the provider: a 4xx (the provider works; our app is not allowed)."""

    status_code = 403


def http_error(error: ProviderError) -> AppError:
    """The API's answer to a provider failure outside publishing: 403 PROVIDER_ERROR naming a missing
    scope, 429 RATE_LIMITED with Retry-After for a rate limit, 409 RECONNECT_REQUIRED when the account
    must be connected again before the provider can be asked (ReconnectFirst), otherwise 502 PROVIDER_ERROR."""
    if isinstance(error, ReconnectFirst):
        return ReconnectRequired(error.message)
    if isinstance(error, PermissionMissing):
        return ProviderPermissionMissing(error.message, details=[{"scope": error.scope}])
    if isinstance(error, RateLimited):
        seconds = int((error.reset_at - utcnow()).total_seconds()) if error.reset_at else 60
        return TooManyRequests(max(1, seconds), error.message)
    return ProviderRequestFailed(error.message)


def require_configured(**variables: str) -> None:
    """503 PROVIDER_NOT_CONFIGURED naming each empty variable (`LINKEDIN_CLIENT_ID=settings.linkedin_client_id`)."""
    missing = [name for name, value in variables.items() if not value]
    if missing:
        raise ProviderNotConfigured(
            f"Set {', '.join(missing)} to connect accounts (see the README: registering the app)",
            details=[{"variable": name} for name in missing],
        )
