"""A fake LinkedIn, served on loopback, that checks what LinkedIn checks.

OAuth: the consent page redirects with a single-use code bound to its redirect_uri; the token
and revocation endpoints take a form body with the client id and secret (a revoked token stops working). REST: a bearer token of a member,
`LinkedIn-Version` (YYYYMM) and `X-Restli-Protocol-Version: 2.0.0` on every call, the post body's
shape (author = the token's member, commentary at most 3,000 characters, one image as
`content.media`, several as `content.multiImage`), images uploaded by their owner and owned by the
post's author, the new URN in `x-restli-id` with an empty body, 422 DUPLICATE_POST for the same
commentary twice. The commentary is read as LinkedIn's little text format: a reserved character
that is not backslash-escaped (nor a `#` starting a hashtag) is refused with 422 where LinkedIn
silently truncates the post there, so a missing escape cannot pass unnoticed; the text members
see is kept as `rendered`. It can be told to answer 429, 5xx or 401 next, to refuse analytics (403), or to
create a post and then hang (the request reached it; the caller's timeout makes the outcome unknown).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID, CLIENT_SECRET = "fake-client-id", "fake-client-secret-value"
REQUIRED_SCOPES = {"openid", "profile", "w_member_social"}
METRIC_TYPES = ("IMPRESSION", "MEMBERS_REACHED", "REACTION", "COMMENT", "RESHARE")
URN_IN_ENTITY = re.compile(r"^\((share|ugc):(urn:li:(?:share|ugcPost):\d+)\)$")
LITTLE_RESERVED = set("|{}@[]()<>#\\*_~")


def render_little(commentary: str) -> tuple[str, int | None]:
    """The text members see, and the offset of the first unescaped reserved character (None: none)."""
    shown: list[str] = []
    index = 0
    while index < len(commentary):
        char = commentary[index]
        if char == "\\" and index + 1 < len(commentary):
            shown.append(commentary[index + 1])
            index += 2
            continue
        starts_hashtag = (
            char == "#" and index + 1 < len(commentary) and commentary[index + 1].isalnum()
            and (index == 0 or not commentary[index - 1].isalnum())
        )
        if char in LITTLE_RESERVED and not starts_hashtag:
            return "".join(shown), index
        shown.append(char)
        index += 1
    return "".join(shown), None


@dataclass
class Scripted:
    path: str  # a prefix of the request path
    status: int
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeLinkedIn:
    member: str = "member-ada"  # who consents on the authorization page
    names: dict[str, str] = field(default_factory=lambda: {"member-ada": "Ada Lovelace", "member-bob": "Bob Byte"})
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (member, redirect_uri)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> member
    images: dict[str, dict] = field(default_factory=dict)  # image urn -> owner, uploaded bytes
    uploads: dict[str, str] = field(default_factory=dict)  # upload id -> image urn
    posts: dict[str, dict] = field(default_factory=dict)  # post urn -> body
    metrics: dict[str, dict[str, int]] = field(default_factory=dict)
    analytics_allowed: bool = True
    scripted: list[Scripted] = field(default_factory=list)
    hang_after_create: bool = False
    requests: list[tuple[str, str]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)  # every access token handed out, expired or not
    revoked: list[str] = field(default_factory=list)  # tokens revoked through /oauth/v2/revoke
    base_url: str = ""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(7_100_000_000))

    # --- what tests tell it -------------------------------------------------------------------

    def fail_next(self, path: str, status: int, body: dict | None = None, headers: dict | None = None) -> None:
        """The next request whose path starts with `path` gets this answer instead."""
        self.scripted.append(Scripted(path, status, body or {"status": status, "message": "scripted"}, headers or {}))

    def expire_all_tokens(self) -> None:
        self.tokens.clear()

    def posts_by(self, member: str) -> list[dict]:
        return [body for body in self.posts.values() if body["author"] == f"urn:li:person:{member}"]

    # --- the app ------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/oauth/v2/authorization", self.authorization, methods=["GET"]),
            Route("/oauth/v2/accessToken", self.access_token, methods=["POST"]),
            Route("/oauth/v2/revoke", self.revoke, methods=["POST"]),
            Route("/v2/userinfo", self.userinfo, methods=["GET"]),
            Route("/rest/posts", self.create_post, methods=["POST"]),
            Route("/rest/posts/{urn:path}", self.delete_post, methods=["DELETE"]),
            Route("/rest/images", self.initialize_upload, methods=["POST"]),
            Route("/upload/{upload_id}", self.upload, methods=["PUT"]),
            Route("/rest/memberCreatorPostAnalytics", self.analytics, methods=["GET"]),
        ])

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.requests.append((scope["method"], scope["path"]))
            for scripted in self.scripted:
                if scope["path"].startswith(scripted.path):
                    self.scripted.remove(scripted)
                    response = JSONResponse(scripted.body, status_code=scripted.status, headers=scripted.headers)
                    return await response(scope, receive, send)
        await self._app(scope, receive, send)

    def __post_init__(self) -> None:
        self._app = self.app()

    def _member(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return self.tokens.get(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None

    def _rest_problem(self, request: Request) -> Response | None:
        if self._member(request) is None:
            return JSONResponse({"status": 401, "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN",
                                 "message": "Invalid access token"}, status_code=401)
        if not re.fullmatch(r"20\d{4}", request.headers.get("linkedin-version", "")):
            return JSONResponse({"status": 426, "code": "NONEXISTENT_VERSION", "message": "Requested version is not active"},
                                status_code=426)
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return JSONResponse({"status": 400, "message": "X-Restli-Protocol-Version 2.0.0 required"}, status_code=400)
        return None

    # --- OAuth ---------------------------------------------------------------------------------

    async def authorization(self, request: Request) -> Response:
        query = request.query_params
        scopes = set(query.get("scope", "").split(" "))
        if query.get("response_type") != "code" or query.get("client_id") != CLIENT_ID or not query.get("state"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if not scopes >= REQUIRED_SCOPES or not query.get("redirect_uri"):
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = (self.member, query["redirect_uri"])
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return RedirectResponse(target, status_code=302)

    async def _client_form(self, request: Request) -> dict[str, str] | Response:
        """The form body of an OAuth endpoint, or the refusal when it is no form or lacks the client credentials."""
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return JSONResponse({"error": "invalid_request", "error_description": "form body required"}, status_code=400)
        form = {key: values[0] for key, values in parse_qs((await request.body()).decode()).items()}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client", "error_description": "Client authentication failed"},
                                status_code=401)
        return form

    async def access_token(self, request: Request) -> Response:
        form = await self._client_form(request)
        if isinstance(form, Response):
            return form
        grant = self.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None or grant[1] != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant", "error_description": "authorization code invalid"},
                                status_code=400)
        token = "AQV" + secrets.token_urlsafe(40)
        self.tokens[token] = grant[0]
        self.issued.append(token)
        return JSONResponse({"access_token": token, "expires_in": 5_184_000,
                             "scope": "openid,profile,w_member_social,r_member_postAnalytics"})

    async def revoke(self, request: Request) -> Response:
        """Token revocation: a form body with the client credentials and the token, which then stops working."""
        form = await self._client_form(request)
        if isinstance(form, Response):
            return form
        token = form.get("token", "")
        if not token:
            return JSONResponse({"error": "invalid_request", "error_description": "token required"}, status_code=400)
        if self.tokens.pop(token, None) is not None:
            self.revoked.append(token)
        return Response(status_code=200)

    async def userinfo(self, request: Request) -> Response:
        member = self._member(request)
        if member is None:
            return JSONResponse({"status": 401, "message": "Invalid access token"}, status_code=401)
        first, last = self.names[member].split(" ", 1)
        return JSONResponse({"sub": member, "name": self.names[member], "given_name": first, "family_name": last,
                             "email_verified": True})

    # --- posts and images ----------------------------------------------------------------------

    async def create_post(self, request: Request) -> Response:
        if (problem := self._rest_problem(request)) is not None:
            return problem
        body = await request.json()
        author = f"urn:li:person:{self._member(request)}"
        expected = {"author", "commentary", "visibility", "distribution", "lifecycleState"}
        if not expected <= set(body) or body["author"] != author or body["lifecycleState"] != "PUBLISHED":
            return JSONResponse({"status": 422, "message": "body shape or author invalid"}, status_code=422)
        if not isinstance(body["commentary"], str):
            return JSONResponse({"status": 422, "message": "commentary must be a string"}, status_code=422)
        rendered, unescaped_at = render_little(body["commentary"])
        if unescaped_at is not None:
            return JSONResponse({"status": 422, "message": f"commentary: unescaped reserved character at "
                                 f"{unescaped_at} (LinkedIn would cut the post there)"}, status_code=422)
        if not 0 < len(rendered) <= 3000:
            return JSONResponse({"status": 422, "message": "commentary length"}, status_code=422)
        content = body.get("content") or {}
        images = [content["media"]["id"]] if "media" in content else [i["id"] for i in content.get("multiImage", {}).get("images", [])]
        if "multiImage" in content and len(images) < 2:
            return JSONResponse({"status": 422, "message": "multiImage needs 2 or more images"}, status_code=422)
        for image in images:
            found = self.images.get(image)
            if found is None or found.get("data") is None:
                return JSONResponse({"status": 400, "message": f"{image} is not available"}, status_code=400)
            if found["owner"] != author:
                return JSONResponse({"status": 400, "code": "INVALID_CONTENT_OWNERSHIP",
                                     "message": "image owner is not the author"}, status_code=400)
        for urn, earlier in self.posts.items():
            if earlier["author"] == author and earlier["commentary"] == body["commentary"]:
                return JSONResponse({"status": 422, "code": "DUPLICATE_POST",
                                     "message": f"Content is a duplicate of {urn}"}, status_code=422)
        urn = f"urn:li:share:{next(self._ids)}"
        self.posts[urn] = {**body, "rendered": rendered}
        if self.hang_after_create:
            await self.release.wait()
        return Response(status_code=201, headers={"x-restli-id": urn})

    async def delete_post(self, request: Request) -> Response:
        if (problem := self._rest_problem(request)) is not None:
            return problem
        urn = request.path_params["urn"]
        if urn not in self.posts:
            return JSONResponse({"status": 404, "message": "Not found"}, status_code=404)
        if self.posts[urn]["author"] != f"urn:li:person:{self._member(request)}":
            return JSONResponse({"status": 403, "message": "Not the author"}, status_code=403)
        del self.posts[urn]
        return Response(status_code=204)

    async def initialize_upload(self, request: Request) -> Response:
        if (problem := self._rest_problem(request)) is not None:
            return problem
        if request.query_params.get("action") != "initializeUpload":
            return JSONResponse({"status": 400, "message": "action"}, status_code=400)
        owner = ((await request.json()).get("initializeUploadRequest") or {}).get("owner")
        if owner != f"urn:li:person:{self._member(request)}":
            return JSONResponse({"status": 403, "message": "owner must be the member"}, status_code=403)
        number = next(self._ids)
        image, upload_id = f"urn:li:image:C{number}", secrets.token_urlsafe(8)
        self.images[image] = {"owner": owner, "data": None}
        self.uploads[upload_id] = image
        return JSONResponse({"value": {"uploadUrlExpiresAt": 1_900_000_000_000, "image": image,
                                       "uploadUrl": f"{self.base_url}/upload/{upload_id}"}})

    async def upload(self, request: Request) -> Response:
        image = self.uploads.pop(request.path_params["upload_id"], None)
        member = self._member(request)
        if image is None or member is None or self.images[image]["owner"] != f"urn:li:person:{member}":
            return JSONResponse({"status": 400, "message": "upload refused"}, status_code=400)
        self.images[image]["data"] = await request.body()
        return Response(status_code=201)

    async def analytics(self, request: Request) -> Response:
        if (problem := self._rest_problem(request)) is not None:
            return problem
        if not self.analytics_allowed:
            return JSONResponse({"status": 403, "serviceErrorCode": 100, "code": "ACCESS_DENIED",
                                 "message": "Not enough permissions to access: memberCreatorPostAnalytics.FINDER-entity"},
                                status_code=403)
        query = request.query_params
        matched = URN_IN_ENTITY.match(query.get("entity", ""))
        if query.get("q") != "entity" or matched is None or query.get("queryType") not in METRIC_TYPES:
            return JSONResponse({"status": 400, "message": "query"}, status_code=400)
        urn = matched.group(2)
        if urn not in self.posts or self.posts[urn]["author"] != f"urn:li:person:{self._member(request)}":
            return JSONResponse({"status": 404, "message": "no such post of this member"}, status_code=404)
        count = self.metrics.get(urn, {}).get(query["queryType"], 0)
        return JSONResponse({"elements": [{"count": count, "metricType": {"com.linkedin.adsexternalapi.memberanalytics.v1.CreatorPostAnalyticsMetricTypeV1": query["queryType"]}}],
                             "paging": {"start": 0, "count": 10, "links": []}})
