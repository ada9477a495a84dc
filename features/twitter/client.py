"""The X API v2 as our posts need it: OAuth 2.0 with PKCE, identity, tweets, images, metrics.

Every call goes through one sender (`_send`) that reads the rate-limit headers X puts on every
response and turns each way a call can end into one typed error, so the publishing state
machine decides from the type alone:

- 429 -> `RateLimited(reset_at)`: the account waits until X's reset, never a hot loop;
- a connection that failed before the request left -> `ProviderUnavailable(sent=False)`: safe to retry;
- a 5xx answer -> `ProviderUnavailable(sent=True)`: X answered that it failed;
- no answer after the request left (timeout, dropped connection) -> `ProviderTimeout`: X may or
  may not have acted on it, so the caller records `unknown` and never retries blindly;
- duplicate content -> `DuplicateContent` (final); 401 -> `Unauthorized` (reconnect);
- a 403 for a scope the token lacks -> `PermissionMissing(scope)`; any other refusal -> `ProviderRejected`.

No token ever appears in an error message or a log line: messages carry X's `title`/`detail`
only, which name no credential.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from shared.config import Settings
from shared.outbound import provider_http_client

SCOPES = ("tweet.read", "tweet.write", "users.read", "offline.access", "media.write")
METRICS_BATCH = 100  # ids per GET /2/tweets, X's maximum
DEFAULT_WINDOW = timedelta(minutes=15)  # X's usual window, when a 429 comes without a reset header
METRIC_NAMES = {  # public_metrics field -> our metric name (CONTRACT.md)
    "impression_count": "impressions",
    "like_count": "likes",
    "reply_count": "replies",
    "retweet_count": "reposts",
    "quote_count": "quotes",
    "bookmark_count": "bookmarks",
}


# --- Provider errors (the shared publishing kernel's types, once it lands) ---------------------


class ProviderError(Exception):
    """A call to X did not do what was asked; `retryable` says whether trying again later may."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class RateLimited(ProviderError):
    retryable = True

    def __init__(self, message: str, *, reset_at: datetime, status: int | None = 429) -> None:
        super().__init__(message, status=status)
        self.reset_at = reset_at


class ProviderUnavailable(ProviderError):
    """X could not be reached (`sent=False`: the request never left) or answered with a 5xx."""

    retryable = True

    def __init__(self, message: str, *, sent: bool, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.sent = sent


class ProviderTimeout(ProviderError):
    """The request left and no answer came: X may have acted on it. Never retried blindly."""


class DuplicateContent(ProviderError):
    pass


class Unauthorized(ProviderError):
    """The account's token is refused (expired, revoked, refresh token spent): reconnect."""


class PermissionMissing(ProviderError):
    def __init__(self, message: str, *, scope: str, status: int | None = 403) -> None:
        super().__init__(message, status=status)
        self.scope = scope


class ProviderRejected(ProviderError):
    """X refused the request as it is (bad body, a reply to a tweet it cannot see, ...): final."""


class MediaInvalid(ProviderRejected):
    """X no longer knows a media id (they expire after a day): upload the image again."""


class ClientCredentialsRejected(ProviderRejected):
    """X refused the app's own credentials: X_CLIENT_ID / X_CLIENT_SECRET are wrong."""


# --- What comes back ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    limit: int | None
    remaining: int | None
    reset_at: datetime | None


@dataclass(frozen=True)
class XTokens:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)  # rotates: each refresh returns a new one, the old one dies
    expires_at: datetime
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class XUser:
    id: str
    username: str
    name: str


@dataclass(frozen=True)
class XTweet:
    id: str
    text: str

    @property
    def url(self) -> str:
        return f"https://x.com/i/web/status/{self.id}"


@dataclass(frozen=True)
class XMedia:
    media_id: str
    media_key: str | None
    expires_at: datetime


@dataclass(frozen=True)
class XMetrics:
    metrics: dict[str, dict[str, int]]  # tweet id -> metric name -> number
    missing: frozenset[str]  # ids X did not return (deleted, or not visible)


def code_challenge(verifier: str) -> str:
    """PKCE S256: base64url of the verifier's SHA-256, without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def parse_rate_limit(headers: httpx.Headers, prefix: str = "x-rate-limit") -> RateLimit:
    def number(name: str) -> int | None:
        value = headers.get(f"{prefix}-{name}", "").strip()
        return int(value) if value.isdigit() else None

    reset = number("reset")
    return RateLimit(
        limit=number("limit"),
        remaining=number("remaining"),
        reset_at=datetime.fromtimestamp(reset, UTC) if reset is not None else None,
    )


class _Progress:
    """Follows httpcore's trace events: did the request start to leave before the call failed?"""

    def __init__(self) -> None:
        self.traced = False
        self.request_started = False

    async def trace(self, event: str, _info: dict[str, Any]) -> None:
        self.traced = True
        if "send_request_headers.started" in event:
            self.request_started = True

    @property
    def sent(self) -> bool:
        # A transport that reports nothing (an in-process ASGI app) may have acted: assume it left.
        return self.request_started or not self.traced


class XClient:
    """One client per use (`async with XClient(settings) as x:`); every method is one call to X."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._timeout = settings.provider_timeout_seconds
        options: dict[str, Any] = {"base_url": settings.x_api_base_url.rstrip("/")}
        if transport is not None:
            options["transport"] = transport
        self._http = provider_http_client(settings, **options)
        self.last_rate_limit: RateLimit | None = None  # of the last response X sent

    async def __aenter__(self) -> XClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._http.aclose()

    # --- OAuth 2.0 authorization code with PKCE ------------------------------------------------

    def authorization_url(self, *, state: str, code_challenge: str, redirect_uri: str | None = None) -> str:
        """Where to send the admin's browser: X asks them to grant our scopes, then redirects with a code."""
        query = {
            "response_type": "code",
            "client_id": self._settings.x_client_id,
            "redirect_uri": redirect_uri or self._settings.x_redirect_uri,
            "scope": " ".join(SCOPES),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return f"{self._settings.x_authorize_url}?{urlencode(query, quote_via=quote)}"  # spaces as %20"

    async def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str | None = None) -> XTokens:
        """The code from X's redirect, with the PKCE verifier, for the first tokens."""
        return await self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri or self._settings.x_redirect_uri,
                "code_verifier": code_verifier,
                "client_id": self._settings.x_client_id,
            }
        )

    async def refresh(self, *, refresh_token: str) -> XTokens:
        """New tokens; the refresh token rotates, so the caller must store the new one (the old one is dead)."""
        return await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self._settings.x_client_id}
        )

    async def revoke(self, *, token: str, is_refresh_token: bool = False) -> None:
        """Revokes a token at X (disconnecting an account)."""
        token_type_hint = "refresh_token" if is_refresh_token else "access_token"
        response = await self._send(
            "POST",
            "/2/oauth2/revoke",
            data={"token": token, "token_type_hint": token_type_hint, "client_id": self._settings.x_client_id},
            auth=self._client_auth(),
            check=False,
        )
        self._raise_for_token_endpoint(response)

    # --- The API, with the user's access token ---------------------------------------------------

    async def me(self, *, access_token: str) -> XUser:
        """The user the token belongs to."""
        response = await self._send("GET", "/2/users/me", token=access_token, scope="users.read")
        data = _data(response)
        return XUser(id=str(data["id"]), username=str(data.get("username", "")), name=str(data.get("name", "")))

    async def create_tweet(
        self,
        *,
        access_token: str,
        text: str,
        media_ids: Sequence[str] = (),
        in_reply_to_tweet_id: str | None = None,
    ) -> XTweet:
        """Posts one tweet; a thread's later segments reply to the previous segment's id."""
        body: dict[str, Any] = {"text": text}
        if media_ids:
            body["media"] = {"media_ids": list(media_ids)}
        if in_reply_to_tweet_id is not None:
            body["reply"] = {"in_reply_to_tweet_id": in_reply_to_tweet_id}
        response = await self._send("POST", "/2/tweets", token=access_token, scope="tweet.write", json=body)
        data = _data(response)
        return XTweet(id=str(data["id"]), text=str(data.get("text", text)))

    async def delete_tweet(self, *, access_token: str, tweet_id: str) -> bool:
        """Deletes a tweet of the user; True when X says it is gone."""
        response = await self._send(
            "DELETE", f"/2/tweets/{_digits(tweet_id)}", token=access_token, scope="tweet.write"
        )
        return bool(_data(response).get("deleted"))

    async def upload_image(
        self, *, access_token: str, content: bytes, content_type: str, filename: str = "image"
    ) -> XMedia:
        """Simple upload of one image (`tweet_image`); the id is valid for `expires_after_secs` (a day)."""
        response = await self._send(
            "POST",
            "/2/media/upload",
            token=access_token,
            scope="media.write",
            data={"media_category": "tweet_image"},
            files={"media": (filename, content, content_type)},
        )
        data = _data(response)
        expires_after = int(data.get("expires_after_secs") or 86400)
        return XMedia(
            media_id=str(data["id"]),
            media_key=data.get("media_key"),
            expires_at=self._clock() + timedelta(seconds=expires_after),
        )

    async def metrics(self, *, access_token: str, tweet_ids: Iterable[str]) -> XMetrics:
        """public_metrics of the tweets, at most 100 ids a call as X allows."""
        ids = list(dict.fromkeys(_digits(tweet_id) for tweet_id in tweet_ids))
        found: dict[str, dict[str, int]] = {}
        for start in range(0, len(ids), METRICS_BATCH):
            batch = ids[start : start + METRICS_BATCH]
            response = await self._send(
                "GET",
                "/2/tweets",
                token=access_token,
                scope="tweet.read",
                params={"ids": ",".join(batch), "tweet.fields": "public_metrics"},
            )
            for tweet in _json(response).get("data") or []:
                public = tweet.get("public_metrics") or {}
                found[str(tweet["id"])] = {ours: int(public.get(theirs) or 0) for theirs, ours in METRIC_NAMES.items()}
        return XMetrics(metrics=found, missing=frozenset(set(ids) - set(found)))

    # --- One sender, one error mapping -------------------------------------------------------------

    def _client_auth(self) -> httpx.BasicAuth:
        # A confidential client authenticates at the token endpoints with HTTP Basic (client id:secret).
        return httpx.BasicAuth(self._settings.x_client_id, self._settings.x_client_secret.get_secret_value())

    async def _token_request(self, form: dict[str, str]) -> XTokens:
        response = await self._send("POST", "/2/oauth2/token", data=form, auth=self._client_auth(), check=False)
        self._raise_for_token_endpoint(response)
        body = _json(response)
        try:
            access_token = str(body["access_token"])
            expires_in = int(body.get("expires_in") or 7200)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderRejected("X's token response has no access token", status=response.status_code) from exc
        refresh_token = body.get("refresh_token")
        return XTokens(
            access_token=access_token,
            refresh_token=str(refresh_token) if refresh_token else None,
            expires_at=self._clock() + timedelta(seconds=expires_in),
            scopes=tuple(str(body.get("scope") or "").split()),
        )

    def _raise_for_token_endpoint(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        body = _json(response)
        error = str(body.get("error") or "")
        description = str(body.get("error_description") or _problem(response))
        if response.status_code == 401 or error in {"invalid_client", "unauthorized_client"}:
            raise ClientCredentialsRejected(
                f"X refused the app's client credentials (check X_CLIENT_ID and X_CLIENT_SECRET): {description}",
                status=response.status_code,
            )
        if response.status_code in {400, 403}:  # a spent, expired or foreign code or refresh token
            raise Unauthorized(f"X refused the grant: {description}", status=response.status_code)
        self._raise_for_response(response, scope=None)

    async def _send(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        scope: str | None = None,
        check: bool = True,
        **options: Any,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        progress = _Progress()
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._http.request(
                    method, url, headers=headers, extensions={"trace": progress.trace}, **options
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ProviderUnavailable(f"X could not be reached ({type(exc).__name__})", sent=False) from exc
        except (TimeoutError, httpx.TransportError) as exc:
            if not progress.sent:
                raise ProviderUnavailable(f"X could not be reached ({type(exc).__name__})", sent=False) from exc
            raise ProviderTimeout(
                f"X did not answer within {self._timeout:g} s after the request was sent ({type(exc).__name__}); "
                "it may or may not have acted on it"
            ) from exc
        self.last_rate_limit = parse_rate_limit(response.headers)
        if check and not response.is_success:
            self._raise_for_response(response, scope=scope)
        return response

    def _raise_for_response(self, response: httpx.Response, *, scope: str | None) -> None:
        status = response.status_code
        problem = _problem(response)
        if status == 429:
            raise RateLimited(f"X's rate limit is reached: {problem}", reset_at=self._reset_at(response.headers))
        if status >= 500:
            raise ProviderUnavailable(f"X answered {status}: {problem}", sent=True, status=status)
        if status == 401:
            raise Unauthorized(f"X refused the account's token: {problem}", status=status)
        if status == 403:
            lowered = problem.lower()
            if "duplicate" in lowered:
                raise DuplicateContent(f"X refused this as duplicate content: {problem}", status=status)
            if "unsupported authentication" in lowered:
                raise Unauthorized(f"X refused the account's token: {problem}", status=status)
            if scope is not None and _generic_forbidden(response):
                raise PermissionMissing(
                    f"X refused the call: the account's token lacks the scope {scope} (connect it again)",
                    scope=scope,
                    status=status,
                )
        if status == 400 and "media" in problem.lower():
            raise MediaInvalid(f"X refused the media ids: {problem}", status=status)
        raise ProviderRejected(f"X answered {status}: {problem}", status=status)

    def _reset_at(self, headers: httpx.Headers) -> datetime:
        # The per-15-minute window, or a 24-hour cap (posting has both) when that one is spent.
        candidates = [parse_rate_limit(headers)] + [
            parse_rate_limit(headers, prefix) for prefix in ("x-user-limit-24hour", "x-app-limit-24hour")
        ]
        spent = [c.reset_at for c in candidates if c.reset_at is not None and c.remaining == 0]
        known = spent or [c.reset_at for c in candidates[:1] if c.reset_at is not None]
        return max(known) if known else self._clock() + DEFAULT_WINDOW


def _digits(tweet_id: str) -> str:
    if not str(tweet_id).isdigit():
        raise ValueError("an X id is a string of digits")
    return str(tweet_id)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _data(response: httpx.Response) -> dict[str, Any]:
    data = _json(response).get("data")
    if not isinstance(data, dict):
        raise ProviderRejected(f"X answered {response.status_code} without data", status=response.status_code)
    return data


def _problem(response: httpx.Response) -> str:
    """X's own words for an error (RFC 7807 title/detail, or the v1-style errors list), bounded."""
    body = _json(response)
    parts = [str(body[key]) for key in ("title", "detail") if body.get(key)]
    for error in body.get("errors") or []:
        if isinstance(error, dict) and (message := error.get("message") or error.get("detail")):
            parts.append(str(message))
    text = "; ".join(dict.fromkeys(parts)) or response.reason_phrase or "no detail"
    return text[:300]


def _generic_forbidden(response: httpx.Response) -> bool:
    # X answers a token without the endpoint's scope with a bare 403 Forbidden problem (no detail of its own).
    body = _json(response)
    detail = str(body.get("detail") or "").strip().lower()
    return detail in {"", "forbidden"} and not body.get("errors")
