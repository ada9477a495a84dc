"""An ASGI fake of X's API v2 that checks what X checks, for tests of everything that talks to X.

It speaks the endpoints our client uses, with X's bodies and status codes:
- `GET /i/oauth2/authorize` (the admin's browser): checks the client, redirect URI, scopes and the
  PKCE S256 challenge, then redirects back with a code for `signed_in` (single use, 30 s);
- `POST /2/oauth2/token`: HTTP Basic client authentication, the code with the verifier that matches
  its challenge, or a refresh token, which rotates (the old one is refused after use); access
  tokens live 2 hours on the fake's clock (`advance`); `POST /2/oauth2/revoke`;
- `GET /2/users/me`, `POST /2/tweets` (body shape, weighted length, <= 4 media ids owned by the
  user and not expired, replies to an existing tweet of the same user, duplicate text refused),
  `DELETE /2/tweets/{id}`, `GET /2/tweets?ids=` (<= 100 ids, public_metrics), `POST /2/media/upload`;
- bearer tokens and each endpoint's scopes; `x-rate-limit-*` headers on every response, 15-minute
  windows per user and endpoint, 429 when one is spent.

Tests can make the next calls of an endpoint fail as X does (`fail_next`): 429 with reset headers,
5xx, 401, duplicate content, or hang (optionally after acting: X did it but the answer is lost).
Where X's exact words are not documented the fake says so (*guess*).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from twitter_text import parse_tweet

ACCESS_TOKEN_LIFETIME = timedelta(hours=2)
CODE_LIFETIME = timedelta(seconds=30)
MEDIA_LIFETIME = timedelta(days=1)
WINDOW = timedelta(minutes=15)
KNOWN_SCOPES = {
    "tweet.read", "tweet.write", "tweet.moderate.write", "users.read", "follows.read", "follows.write",
    "offline.access", "space.read", "mute.read", "mute.write", "like.read", "like.write", "list.read",
    "list.write", "block.read", "block.write", "bookmark.read", "bookmark.write", "media.write",
}
TWEET_FIELDS = {
    "text", "media", "reply", "quote_tweet_id", "reply_settings", "poll", "for_super_followers_only", "geo",
    "nullcast", "direct_message_deep_link", "card_uri", "community_id", "edit_options", "made_with_ai",
    "paid_partnership", "share_with_followers",
}
# Per user and 15-minute window (X's published figures vary by plan; these are the fake's defaults).
DEFAULT_LIMITS = {
    "GET /2/users/me": 75,
    "POST /2/tweets": 100,
    "DELETE /2/tweets/{id}": 50,
    "GET /2/tweets": 900,
    "POST /2/media/upload": 500,
    "POST /2/oauth2/token": 1000,
    "POST /2/oauth2/revoke": 1000,
}
SCOPES_NEEDED = {
    "GET /2/users/me": {"tweet.read", "users.read"},
    "POST /2/tweets": {"tweet.read", "tweet.write", "users.read"},
    "DELETE /2/tweets/{id}": {"tweet.read", "tweet.write", "users.read"},
    "GET /2/tweets": {"tweet.read", "users.read"},
    "POST /2/media/upload": {"media.write"},
}
IMAGE_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}
MAX_IMAGE_BYTES = 5 * 1024 * 1024


@dataclass
class Fault:
    """How the next call of an endpoint goes wrong."""

    status: int | None = None  # 429, 5xx, 401, or 403 (duplicate content)
    hang: bool = False  # never answer (until the caller gives up)
    act_first: bool = False  # do what was asked, then fail or hang: X acted, the answer is lost
    reset_in: int = 900  # a 429's reset, seconds from now
    rate_headers: bool = True  # False: a 429 without x-rate-limit-* headers
    delay: float = 0  # seconds before answering; alone (no status, no hang) the call then goes through

    @property
    def slow_only(self) -> bool:
        return self.status is None and not self.hang


@dataclass
class FakeUser:
    id: str
    username: str
    name: str


@dataclass
class Grant:
    user_id: str
    client_id: str
    scopes: frozenset[str]
    expires_at: datetime | None = None  # access tokens and codes
    used: bool = False  # codes and refresh tokens are single use
    revoked: bool = False
    redirect_uri: str = ""
    challenge: str = ""


@dataclass
class FakeTweet:
    id: str
    author_id: str
    text: str
    media_ids: tuple[str, ...] = ()
    in_reply_to: str | None = None
    metrics: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("retweet_count", "reply_count", "like_count", "quote_count", "bookmark_count", "impression_count"), 0
        )
    )


@dataclass
class FakeMedia:
    id: str
    owner_id: str
    expires_at: datetime
    content_type: str
    size: int


@dataclass
class Call:
    method: str
    path: str
    route: str
    user_id: str | None = None


def _problem(status: int, title: str, detail: str, type_: str = "about:blank", **extra: Any) -> dict[str, Any]:
    return {"title": title, "detail": detail, "type": type_, "status": status, **extra}


def _invalid_request(message: str) -> dict[str, Any]:
    return {
        "errors": [{"message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


class _Refusal(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body


class FakeX:
    """The fake's state and its ASGI app (`fake.app`); `fake.now` is its clock."""

    def __init__(
        self,
        *,
        client_id: str = "fake-x-client-id",
        client_secret: str = "fake-x-client-secret",
        redirect_uris: tuple[str, ...] = ("http://localhost:3036/x/callback",),
        now: datetime | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = set(redirect_uris)
        self.now = now or datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
        self.users: dict[str, FakeUser] = {}
        self.signed_in: FakeUser | None = None  # who approves at the authorize page
        self.codes: dict[str, Grant] = {}
        self.access_tokens: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.tweets: dict[str, FakeTweet] = {}
        self.media: dict[str, FakeMedia] = {}
        self.calls: list[Call] = []
        self.limits = dict(DEFAULT_LIMITS)
        self.daily_post_cap: int | None = None  # X's 24-hour cap on posts per user, off by default
        self._windows: dict[tuple[str, str], tuple[datetime, int]] = {}
        self._daily: dict[str, tuple[datetime, int]] = {}
        self._faults: dict[str, list[Fault]] = {}
        self._ids = itertools.count(1_860_000_000_000_000_001)
        self.released = asyncio.Event()  # set to end every hanging call
        self.app = Starlette(
            routes=[
                Route("/i/oauth2/authorize", self._authorize, methods=["GET"]),
                Route("/2/oauth2/token", self._token, methods=["POST"]),
                Route("/2/oauth2/revoke", self._revoke, methods=["POST"]),
                Route("/2/users/me", self._me, methods=["GET"]),
                Route("/2/tweets", self._create_tweet, methods=["POST"]),
                Route("/2/tweets", self._lookup_tweets, methods=["GET"]),
                Route("/2/tweets/{id}", self._delete_tweet, methods=["DELETE"]),
                Route("/2/media/upload", self._upload, methods=["POST"]),
            ]
        )

    # --- What tests use ------------------------------------------------------------------------

    def add_user(self, username: str = "magnetiq", name: str = "Magnetiq") -> FakeUser:
        user = FakeUser(id=self._next_id(), username=username, name=name)
        self.users[user.id] = user
        self.signed_in = self.signed_in or user
        return user

    def advance(self, **delta: float) -> None:
        """Moves the fake's clock (tokens, codes, media and rate-limit windows expire on it)."""
        self.now += timedelta(**delta)

    def fail_next(self, route: str, fault: Fault, times: int = 1) -> None:
        """The next `times` calls of `route` ("POST /2/tweets") fail as `fault` says."""
        self._faults.setdefault(route, []).extend([fault] * times)

    def issue_token(self, user: FakeUser, scopes: set[str] | None = None) -> str:
        """An access token as if the user had connected (for tests not about the connect flow)."""
        token = secrets.token_urlsafe(24)
        granted = frozenset(scopes if scopes is not None else SCOPES_NEEDED["POST /2/tweets"] | {"media.write"})
        self.access_tokens[token] = Grant(user.id, self.client_id, granted, self.now + ACCESS_TOKEN_LIFETIME)
        return token

    def calls_to(self, route: str) -> list[Call]:
        return [call for call in self.calls if call.route == route]

    # --- OAuth 2.0 -----------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        self._record(request, "GET /i/oauth2/authorize")
        query = request.query_params
        problems = []
        if query.get("response_type") != "code":
            problems.append("response_type must be code")
        if query.get("client_id") != self.client_id:
            problems.append("unknown client_id")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            problems.append("redirect_uri is not registered for this app")
        scopes = set(query.get("scope", "").split(" ")) - {""}
        if not scopes or scopes - KNOWN_SCOPES:
            problems.append(f"unknown scopes: {sorted(scopes - KNOWN_SCOPES)}")
        if not query.get("state"):
            problems.append("state is required")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            problems.append("PKCE with code_challenge_method=S256 is required")
        if self.signed_in is None:
            problems.append("nobody is signed in to approve")
        if problems:  # X shows an error page and does not redirect
            return PlainTextResponse("; ".join(problems), status_code=400)
        assert self.signed_in is not None
        code = secrets.token_urlsafe(24)
        self.codes[code] = Grant(
            self.signed_in.id, self.client_id, frozenset(scopes), self.now + CODE_LIFETIME,
            redirect_uri=redirect_uri, challenge=query["code_challenge"],
        )
        return RedirectResponse(f"{redirect_uri}?{urlencode({'state': query['state'], 'code': code})}", 302)

    async def _token(self, request: Request) -> Response:
        call = self._record(request, "POST /2/oauth2/token")
        if (early := await self._fault_or_limit(call, self.client_id)) is not None:
            return early
        form = await self._form(request)
        if not self._client_authenticated(request, form):
            return self._json(401, {"error": "unauthorized_client", "error_description": "Missing valid authorization header"}, call, self.client_id)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = self.codes.get(form.get("code", ""))
            verifier = form.get("code_verifier", "")
            if (
                grant is None or grant.used or grant.expires_at is None or self.now >= grant.expires_at
                or grant.redirect_uri != form.get("redirect_uri") or not verifier
                or _s256(verifier) != grant.challenge
            ):
                return self._json(400, {"error": "invalid_request", "error_description": "Value passed for the authorization code was invalid."}, call, self.client_id)
            grant.used = True
        elif grant_type == "refresh_token":
            grant = self.refresh_tokens.get(form.get("refresh_token", ""))
            if grant is None or grant.used or grant.revoked:
                return self._json(400, {"error": "invalid_request", "error_description": "Value passed for the token was invalid."}, call, self.client_id)
            grant.used = True  # rotation: this refresh token never works again
        else:
            return self._json(400, {"error": "unsupported_grant_type", "error_description": "grant_type is not supported"}, call, self.client_id)
        access = secrets.token_urlsafe(32)
        self.access_tokens[access] = Grant(grant.user_id, self.client_id, grant.scopes, self.now + ACCESS_TOKEN_LIFETIME)
        body = {
            "token_type": "bearer",
            "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            "access_token": access,
            "scope": " ".join(sorted(grant.scopes)),
        }
        if "offline.access" in grant.scopes:  # X issues a refresh token only with offline.access
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = Grant(grant.user_id, self.client_id, grant.scopes)
            body["refresh_token"] = refresh
        return self._json(200, body, call, self.client_id)

    async def _revoke(self, request: Request) -> Response:
        call = self._record(request, "POST /2/oauth2/revoke")
        form = await self._form(request)
        if not self._client_authenticated(request, form):
            return self._json(401, {"error": "unauthorized_client", "error_description": "Missing valid authorization header"}, call, self.client_id)
        token = form.get("token", "")
        for grant in (self.access_tokens.get(token), self.refresh_tokens.get(token)):
            if grant is not None:
                grant.revoked = True
        return self._json(200, {"revoked": True}, call, self.client_id)

    # --- The API -------------------------------------------------------------------------------

    async def _me(self, request: Request) -> Response:
        return await self._serve(request, "GET /2/users/me", self._do_me)

    async def _create_tweet(self, request: Request) -> Response:
        return await self._serve(request, "POST /2/tweets", self._do_create_tweet)

    async def _delete_tweet(self, request: Request) -> Response:
        return await self._serve(request, "DELETE /2/tweets/{id}", self._do_delete_tweet)

    async def _lookup_tweets(self, request: Request) -> Response:
        return await self._serve(request, "GET /2/tweets", self._do_lookup_tweets)

    async def _upload(self, request: Request) -> Response:
        return await self._serve(request, "POST /2/media/upload", self._do_upload)

    async def _do_me(self, _request: Request, user: FakeUser) -> tuple[int, dict[str, Any]]:
        return 200, {"data": {"id": user.id, "name": user.name, "username": user.username}}

    async def _do_create_tweet(self, request: Request, user: FakeUser) -> tuple[int, dict[str, Any]]:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise _Refusal(400, _invalid_request("the body must be JSON (Content-Type: application/json)"))
        try:
            body = await request.json()
        except ValueError as exc:
            raise _Refusal(400, _invalid_request("the body is not valid JSON")) from exc
        if not isinstance(body, dict):
            raise _Refusal(400, _invalid_request("the body must be a JSON object"))
        if unknown := sorted(set(body) - TWEET_FIELDS):
            raise _Refusal(400, _invalid_request(f"$.{unknown[0]}: is not defined in the schema and the schema does not allow additional properties"))
        text = body.get("text", "")
        media_ids = self._media_ids(body.get("media"), user)
        if not isinstance(text, str) or (not text and not media_ids):
            raise _Refusal(400, _invalid_request("$.text: a tweet needs text or media"))
        if parse_tweet(text).weightedLength > 280:  # *guess* at X's wording
            raise _Refusal(400, _invalid_request("$.text: Tweet text is too long"))
        in_reply_to = self._reply_target(body.get("reply"), user)
        if any(t.author_id == user.id and t.text == text and t.media_ids == media_ids for t in self.tweets.values()):
            raise _Refusal(403, _problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."))
        tweet = FakeTweet(self._next_id(), user.id, text, media_ids, in_reply_to)
        self.tweets[tweet.id] = tweet
        return 201, {"data": {"id": tweet.id, "text": text, "edit_history_tweet_ids": [tweet.id]}}

    def _media_ids(self, media: Any, user: FakeUser) -> tuple[str, ...]:
        if media is None:
            return ()
        ids = media.get("media_ids") if isinstance(media, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i.isdigit() for i in ids):
            raise _Refusal(400, _invalid_request("$.media.media_ids: must be a list of 1 to 4 numeric strings"))
        if len(ids) > 4:
            raise _Refusal(400, _invalid_request("$.media.media_ids: must have a maximum of 4 items"))
        for media_id in ids:
            item = self.media.get(media_id)
            if item is None or item.owner_id != user.id or self.now >= item.expires_at:
                raise _Refusal(400, _invalid_request("Your media IDs are invalid."))
        return tuple(ids)

    def _reply_target(self, reply: Any, user: FakeUser) -> str | None:
        if reply is None:
            return None
        target = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
        if not isinstance(target, str) or not target.isdigit() or set(reply) - {"in_reply_to_tweet_id", "exclude_reply_user_ids"}:
            raise _Refusal(400, _invalid_request("$.reply.in_reply_to_tweet_id: must be a numeric string"))
        tweet = self.tweets.get(target)
        if tweet is None or tweet.author_id != user.id:  # X lets anyone reply to a visible tweet; threads are ours
            raise _Refusal(403, _problem(403, "Forbidden", "You attempted to reply to a Tweet that is deleted or not visible to you."))
        return target

    async def _do_delete_tweet(self, request: Request, user: FakeUser) -> tuple[int, dict[str, Any]]:
        tweet_id = request.path_params["id"]
        tweet = self.tweets.get(tweet_id)
        if tweet is None:
            raise _Refusal(404, _problem(404, "Not Found Error", f"Could not find tweet with id: [{tweet_id}].",
                                         "https://api.twitter.com/2/problems/resource-not-found"))
        if tweet.author_id != user.id:
            raise _Refusal(403, _problem(403, "Forbidden", "You are not allowed to delete this Tweet."))
        del self.tweets[tweet_id]
        return 200, {"data": {"deleted": True}}

    async def _do_lookup_tweets(self, request: Request, _user: FakeUser) -> tuple[int, dict[str, Any]]:
        ids = request.query_params.get("ids", "").split(",")
        if not ids or not all(i.isdigit() for i in ids) or len(ids) > 100:
            raise _Refusal(400, _invalid_request("ids: must be 1 to 100 comma-separated numeric ids"))
        fields = set(request.query_params.get("tweet.fields", "").split(","))
        data, errors = [], []
        for tweet_id in ids:
            tweet = self.tweets.get(tweet_id)
            if tweet is None:
                errors.append({
                    "value": tweet_id, "detail": f"Could not find tweet with ids: [{tweet_id}].", "title": "Not Found Error",
                    "resource_type": "tweet", "parameter": "ids", "resource_id": tweet_id,
                    "type": "https://api.twitter.com/2/problems/resource-not-found",
                })
                continue
            item: dict[str, Any] = {"id": tweet.id, "text": tweet.text, "edit_history_tweet_ids": [tweet.id]}
            if "public_metrics" in fields:
                item["public_metrics"] = dict(tweet.metrics)
            data.append(item)
        body: dict[str, Any] = {}
        if data:
            body["data"] = data
        if errors:
            body["errors"] = errors
        return 200, body

    async def _do_upload(self, request: Request, user: FakeUser) -> tuple[int, dict[str, Any]]:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise _Refusal(400, _invalid_request("the body must be multipart/form-data"))
        form = await request.form()
        upload = form.get("media")
        category = form.get("media_category", "tweet_image")
        if upload is None or isinstance(upload, str):
            raise _Refusal(400, _invalid_request("media: a file is required"))
        if category != "tweet_image":
            raise _Refusal(400, _invalid_request("media_category: only tweet_image takes a simple upload"))
        content = await upload.read()
        content_type = next((kind for sig, kind in IMAGE_SIGNATURES.items() if content.startswith(sig)), None)
        if content_type is None and content[:4] == b"RIFF" and content[8:12] == b"WEBP":
            content_type = "image/webp"
        if content_type is None or len(content) > MAX_IMAGE_BYTES:
            raise _Refusal(400, _invalid_request("media: not a supported image of at most 5 MB"))
        item = FakeMedia(self._next_id(), user.id, self.now + MEDIA_LIFETIME, content_type, len(content))
        self.media[item.id] = item
        return 200, {"data": {
            "id": item.id, "media_key": f"3_{item.id}", "size": item.size,
            "expires_after_secs": int(MEDIA_LIFETIME.total_seconds()), "image": {"image_type": content_type},
        }}

    # --- The common path: faults, bearer, scopes, limits ---------------------------------------

    async def _serve(self, request: Request, route: str, action) -> Response:
        call = self._record(request, route)
        grant = self._bearer(request)
        if grant is None:
            return self._json(401, _problem(401, "Unauthorized", "Unauthorized"), call, None)
        call.user_id = grant.user_id
        fault = self._take_fault(route)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.slow_only:
            fault = None
        if fault is not None and not fault.act_first:
            return await self._fail(fault, call, grant.user_id)
        if SCOPES_NEEDED.get(route, set()) - grant.scopes:
            return self._json(403, _problem(403, "Forbidden", "Forbidden"), call, grant.user_id)  # *guess*: a bare 403
        if (limited := self._spend(route, grant.user_id)) is not None:
            return limited
        try:
            status, body = await action(request, self.users[grant.user_id])
        except _Refusal as refusal:
            return self._json(refusal.status, refusal.body, call, grant.user_id)
        if fault is not None:  # X acted; the answer is lost
            return await self._fail(fault, call, grant.user_id)
        return self._json(status, body, call, grant.user_id)

    async def _fault_or_limit(self, call: Call, key: str) -> Response | None:
        fault = self._take_fault(call.route)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and not fault.slow_only:
            return await self._fail(fault, call, key)
        return self._spend(call.route, key)

    def _take_fault(self, route: str) -> Fault | None:
        queue = self._faults.get(route)
        return queue.pop(0) if queue else None

    async def _fail(self, fault: Fault, call: Call, key: str | None) -> Response:
        if fault.hang:
            await asyncio.wait_for(self.released.wait(), timeout=60)
        status = fault.status or 503
        if status == 429:
            reset = self.now + timedelta(seconds=fault.reset_in)
            headers = {"x-rate-limit-limit": str(self.limits.get(call.route, 100)), "x-rate-limit-remaining": "0",
                       "x-rate-limit-reset": str(int(reset.timestamp()))} if fault.rate_headers else {}
            return JSONResponse(_problem(429, "Too Many Requests", "Too Many Requests"), 429, headers=headers)
        if status == 401:
            return self._json(401, _problem(401, "Unauthorized", "Unauthorized"), call, key)
        if status == 403:
            return self._json(403, _problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."), call, key)
        phrase = HTTPStatus(status).phrase
        return self._json(status, _problem(status, phrase, phrase), call, key)

    def _bearer(self, request: Request) -> Grant | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        grant = self.access_tokens.get(token) if scheme == "Bearer" else None
        if grant is None or grant.revoked or grant.expires_at is None or self.now >= grant.expires_at:
            return None
        return grant

    def _client_authenticated(self, request: Request, form: dict[str, str]) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme != "Basic":
            return False
        try:
            client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        body_id = form.get("client_id")
        return (
            secrets.compare_digest(client_id, self.client_id)
            and secrets.compare_digest(secret, self.client_secret)
            and body_id in (None, self.client_id)
        )

    async def _form(self, request: Request) -> dict[str, str]:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return {}
        form = await request.form()
        return {key: value for key, value in form.items() if isinstance(value, str)}

    def _spend(self, route: str, key: str) -> Response | None:
        """Counts the call in its window; a 429 when the window is spent (or the 24-hour cap)."""
        started, used = self._windows.get((route, key), (self.now, 0))
        if self.now >= started + WINDOW:
            started, used = self.now, 0
        limit = self.limits.get(route, 100)
        if used >= limit:
            return JSONResponse(_problem(429, "Too Many Requests", "Too Many Requests"), 429,
                                headers=self._limit_headers(route, key))
        self._windows[(route, key)] = (started, used + 1)
        if route == "POST /2/tweets" and self.daily_post_cap is not None:
            day_started, posted = self._daily.get(key, (self.now, 0))
            if self.now >= day_started + timedelta(days=1):
                day_started, posted = self.now, 0
            if posted >= self.daily_post_cap:
                return JSONResponse(_problem(429, "Too Many Requests", "Too Many Requests"), 429,
                                    headers=self._limit_headers(route, key))
            self._daily[key] = (day_started, posted + 1)
        return None

    def _limit_headers(self, route: str, key: str | None) -> dict[str, str]:
        limit = self.limits.get(route, 100)
        started, used = self._windows.get((route, key or ""), (self.now, 0))
        if self.now >= started + WINDOW:
            started, used = self.now, 0
        headers = {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(max(0, limit - used)),
            "x-rate-limit-reset": str(int((started + WINDOW).timestamp())),
        }
        if route == "POST /2/tweets" and self.daily_post_cap is not None and key is not None:
            day_started, posted = self._daily.get(key, (self.now, 0))
            headers |= {
                "x-user-limit-24hour-limit": str(self.daily_post_cap),
                "x-user-limit-24hour-remaining": str(max(0, self.daily_post_cap - posted)),
                "x-user-limit-24hour-reset": str(int((day_started + timedelta(days=1)).timestamp())),
            }
        return headers

    def _json(self, status: int, body: dict[str, Any], call: Call, key: str | None) -> JSONResponse:
        return JSONResponse(body, status, headers=self._limit_headers(call.route, key))

    def _record(self, request: Request, route: str) -> Call:
        call = Call(request.method, request.url.path, route)
        self.calls.append(call)
        return call

    def _next_id(self) -> str:
        return str(next(self._ids))


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")
