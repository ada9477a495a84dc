"""The X API v2 as our posts need it: OAuth 2.0 with PKCE, identity, tweets, images, metrics.

`XClient` implements the kernel's `SocialProvider` (shared/publishing.py). Every call goes
through one sender (`_send`) that reads the rate-limit headers X puts on every response and
turns each way a call can end into one of the kernel's typed errors, so the publishing state
machine decides from the type alone:

- 429 -> `RateLimited(reset_at)`: X's reset (or a spent 24-hour cap's), never a hot loop;
- a connection that failed before the request left, or X's 503 (over capacity, it took nothing)
  -> `ProviderUnavailable(sent=False)`: safe to retry with backoff;
- another 5xx: for a read, a delete or an upload the same (trying again harms nothing); for a new
  tweet `ProviderUnavailable(sent=True)`, since X's 500 or a gateway's 502/504 may come after the
  tweet was stored: the caller records `unknown` rather than risk posting it twice;
- no answer after the request left (timeout, dropped connection) -> `ProviderTimeout`: X may or
  may not have acted on it (`unknown`, never retried blindly);
- duplicate content -> `DuplicateContent` (final); 401 -> `Unauthorized` (reconnect);
- a bare 403 for a scope the token lacks -> `PermissionMissing(scope)`; an expired or foreign media
  id -> `MediaInvalid` (upload again); any other refusal -> `ProviderRejected`.

No token ever appears in an error message or a log line: messages carry X's `title`/`detail`
only, which name no credential.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from shared.config import Settings
from shared.outbound import provider_http_client
from shared.publishing import (
    Credentials,
    DuplicateContent,
    Identity,
    MediaRejected,
    MediaToUpload,
    PermissionMissing,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    SegmentToPublish,
    TokenSet,
    Unauthorized,
    UploadedMedia,
)

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
CREATE_TWEET = ("POST", "/2/tweets")  # the one call that must never run twice
MEDIA_LIFETIME = timedelta(days=1)  # X forgets an uploaded image's id after a day (`expires_after_secs`)


class MediaInvalid(MediaRejected):
    """X no longer knows a media id (they expire after a day) or it is not the user's: upload again."""


class ClientCredentialsRejected(ProviderRejected):
    """X refused the app's own credentials: X_CLIENT_ID / X_CLIENT_SECRET are wrong."""


@dataclass(frozen=True)
class RateLimit:
    limit: int | None
    remaining: int | None
    reset_at: datetime | None


def tweet_url(tweet_id: str) -> str:
    """A tweet's public address (X redirects it to the author's handle)."""
    return f"https://x.com/i/web/status/{tweet_id}"


def parse_rate_limit(headers: httpx.Headers, prefix: str = "x-rate-limit") -> RateLimit:
    """X's `<prefix>-limit`, `-remaining` and `-reset` (Unix seconds) headers."""

    def number(name: str) -> int | None:
        value = headers.get(f"{prefix}-{name}", "").strip()
        return int(value) if value.isdecimal() else None

    reset = number("reset")
    return RateLimit(
        limit=number("limit"),
        remaining=number("remaining"),
        reset_at=datetime.fromtimestamp(reset, UTC) if reset is not None else None,
    )


class _Progress:
    """Follows httpcore's trace events: had the request started to leave when the call failed?"""

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
    """X for the publishing kernel; one per use (`async with XClient(settings) as x:`), one call to X a method."""

    name = "twitter"
    media_lifetime = MEDIA_LIFETIME

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
        self.last_rate_limit: RateLimit | None = None  # from the last response X sent

    async def __aenter__(self) -> XClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._http.aclose()

    # --- OAuth 2.0 authorization code with PKCE ------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        """Where the admin's browser goes: X asks them to grant our scopes, then redirects with a code."""
        if not code_challenge:
            raise ValueError("X requires PKCE: pass the S256 challenge of a stored verifier")
        query = {
            "response_type": "code",
            "client_id": self._settings.x_client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(SCOPES),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return f"{self._settings.x_authorize_url}?{urlencode(query, quote_via=quote)}"  # spaces as %20

    async def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        """The code from X's redirect, with the PKCE verifier, for the first tokens."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": code_verifier or "", "client_id": self._settings.x_client_id}
        return await self._token_request(form)

    async def refresh(self, refresh_token: str) -> TokenSet:
        """New tokens; the refresh token rotates: store the new one, the old one is dead from now on."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self._settings.x_client_id}
        return await self._token_request(form)

    async def revoke(self, token: str, *, is_refresh_token: bool = False) -> None:
        """Revokes a token at X (disconnecting an account)."""
        hint = "refresh_token" if is_refresh_token else "access_token"
        form = {"token": token, "token_type_hint": hint, "client_id": self._settings.x_client_id}
        response = await self._send("POST", "/2/oauth2/revoke", data=form, auth=self._client_auth(), check=False)
        self._raise_for_token_endpoint(response)

    # --- The API, with the user's access token ---------------------------------------------------

    async def fetch_identity(self, access_token: str) -> Identity:
        """The X user the token belongs to: id, and "Name (@handle)" to show."""
        data = _data(await self._send("GET", "/2/users/me", token=access_token, scope="users.read"))
        name, username = str(data.get("name") or ""), str(data.get("username") or "")
        display = f"{name} (@{username})" if name and username else name or f"@{username}"
        return Identity(provider_user_id=str(data["id"]), display_name=display)

    async def publish(self, credentials: Credentials, segment: SegmentToPublish, *, reply_to: str | None) -> str:
        """Posts one tweet (a thread's later segments reply to the previous one); returns its id."""
        body: dict[str, Any] = {"text": segment.text}
        if segment.provider_media_ids:
            body["media"] = {"media_ids": list(segment.provider_media_ids)}
        if reply_to is not None:
            body["reply"] = {"in_reply_to_tweet_id": reply_to}
        response = await self._send(*CREATE_TWEET, token=credentials.access_token, scope="tweet.write", json=body)
        return str(_data(response)["id"])

    async def delete(self, credentials: Credentials, provider_post_id: str) -> None:
        """Deletes a tweet of the user; one X no longer has is not an error."""
        url = f"/2/tweets/{_digits(provider_post_id)}"
        response = await self._send("DELETE", url, token=credentials.access_token, scope="tweet.write", check=False)
        if not response.is_success and response.status_code != 404:
            self._raise_for_response(response, scope="tweet.write", method="DELETE")

    async def upload_media(self, credentials: Credentials, media: MediaToUpload) -> UploadedMedia:
        """Simple upload of one image (`tweet_image`); its id is valid `expires_after_secs` (a day)."""
        response = await self._send(
            "POST", "/2/media/upload", token=credentials.access_token, scope="media.write",
            data={"media_category": "tweet_image"}, files={"media": (media.filename, media.data, media.mime_type)},
        )
        data = _data(response)
        expires_after = int(data.get("expires_after_secs") or MEDIA_LIFETIME.total_seconds())
        return UploadedMedia(str(data["id"]), expires_at=self._clock() + timedelta(seconds=expires_after))

    async def fetch_metrics(
        self, credentials: Credentials, provider_post_ids: Sequence[str]
    ) -> dict[str, dict[str, int]]:
        """public_metrics under our names, 100 ids a call; tweets X no longer has are left out."""
        ids = list(dict.fromkeys(_digits(tweet_id) for tweet_id in provider_post_ids))
        found: dict[str, dict[str, int]] = {}
        for start in range(0, len(ids), METRICS_BATCH):
            params = {"ids": ",".join(ids[start : start + METRICS_BATCH]), "tweet.fields": "public_metrics"}
            response = await self._send("GET", "/2/tweets", token=credentials.access_token, scope="tweet.read",
                                        params=params)
            for tweet in _json(response).get("data") or []:
                public = tweet.get("public_metrics") or {}
                found[str(tweet["id"])] = {ours: int(public.get(theirs) or 0) for theirs, ours in METRIC_NAMES.items()}
        return found

    # --- One sender, one error mapping -------------------------------------------------------------

    def _client_auth(self) -> httpx.BasicAuth:
        # A confidential client authenticates at the token endpoints with HTTP Basic (client id:secret).
        return httpx.BasicAuth(self._settings.x_client_id, self._settings.x_client_secret.get_secret_value())

    async def _token_request(self, form: dict[str, str]) -> TokenSet:
        response = await self._send("POST", "/2/oauth2/token", data=form, auth=self._client_auth(), check=False)
        self._raise_for_token_endpoint(response)
        body = _json(response)
        try:
            access_token = str(body["access_token"])
            expires_in = int(body.get("expires_in") or 7200)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderRejected("X's token response has no access token") from exc
        refresh_token = body.get("refresh_token")
        return TokenSet(
            access_token=access_token,
            expires_at=self._clock() + timedelta(seconds=expires_in),
            refresh_token=str(refresh_token) if refresh_token else None,
            scopes=tuple(str(body.get("scope") or "").split()),
        )

    def _raise_for_token_endpoint(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        body = _json(response)
        error = str(body.get("error") or "")
        description = str(body.get("error_description") or _problem(response))[:300]
        if response.status_code == 401 or error in {"invalid_client", "unauthorized_client"}:
            raise ClientCredentialsRejected(
                f"X refused the app's client credentials (check X_CLIENT_ID and X_CLIENT_SECRET): {description}"
            )
        if response.status_code in {400, 403}:  # a spent, expired or foreign code or refresh token
            raise Unauthorized(f"X refused the grant ({response.status_code}): {description}")
        self._raise_for_response(response, scope=None, method="POST")

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
            async with asyncio.timeout(self._timeout):  # the whole call, not each read: a trickle cannot stretch it
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
            self._raise_for_response(response, scope=scope, method=method, url=url)
        return response

    def _raise_for_response(self, response: httpx.Response, *, scope: str | None, method: str, url: str = "") -> None:
        status = response.status_code
        problem = _problem(response)
        if status == 429:
            raise RateLimited(f"X's rate limit is reached ({problem})", reset_at=self._reset_at(response.headers))
        if status >= 500:
            # 503 is X over capacity: nothing was taken. Another 5xx to a new tweet may follow its creation.
            taken = status != 503 and (method, url) == CREATE_TWEET
            raise ProviderUnavailable(f"X answered {status} ({problem})", sent=taken)
        if status == 401:
            raise Unauthorized(f"X refused the account's token (401 {problem})")
        if status == 403:
            lowered = problem.lower()
            if "duplicate" in lowered:
                raise DuplicateContent(f"X refused this as duplicate content (403 {problem})")
            if "unsupported authentication" in lowered:
                raise Unauthorized(f"X refused the account's token (403 {problem})")
            if scope is not None and _generic_forbidden(response):
                raise PermissionMissing(
                    f"X refused the call (403): the account's token lacks the scope {scope}; connect it again",
                    scope=scope,
                )
        if status == 400 and "media" in problem.lower():
            raise MediaInvalid(f"X refused the media ids (400 {problem})")
        raise ProviderRejected(f"X answered {status} ({problem})")

    def _reset_at(self, headers: httpx.Headers) -> datetime:
        # The per-15-minute window, or a 24-hour cap (posting has both) when that one is spent.
        candidates = [parse_rate_limit(headers)] + [
            parse_rate_limit(headers, prefix) for prefix in ("x-user-limit-24hour", "x-app-limit-24hour")
        ]
        spent = [c.reset_at for c in candidates if c.reset_at is not None and c.remaining == 0]
        known = spent or [c.reset_at for c in candidates[:1] if c.reset_at is not None]
        return max(known) if known else self._clock() + DEFAULT_WINDOW


def _digits(tweet_id: str) -> str:
    if not str(tweet_id).isdecimal():  # never sent: it would change the path
        raise ProviderRejected(f"{str(tweet_id)[:40]!r} is not an X id (a string of digits)")
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
        raise ProviderRejected(f"X answered {response.status_code} without data")
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
