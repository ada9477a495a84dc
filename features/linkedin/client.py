"""LinkedIn's protocol over httpx: 3-legged OAuth, OIDC identity, the Posts and Images APIs, member
post analytics. Implements shared/publishing.py's `SocialProvider` and raises only its errors.

Every call goes through shared/outbound.py's client (PROVIDER_TIMEOUT_SECONDS, refused inside a
write transaction). Tokens travel in headers and form bodies only, never in a URL or a message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from shared.config import Settings
from shared.db import utcnow
from shared.outbound import provider_http_client
from shared.publishing import (
    Credentials,
    DuplicateContent,
    Identity,
    MediaToUpload,
    PermissionMissing,
    ProviderError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    SegmentToPublish,
    TokenSet,
    Unauthorized,
    UploadedMedia,
)

logger = logging.getLogger("magnetiq.linkedin")

SCOPES = ("openid", "profile", "w_member_social", "r_member_postAnalytics")
CREATE_POST = "create the post"
ANALYTICS_SCOPE = "r_member_postAnalytics"
# LinkedIn's metric types and our names for them (CONTRACT.md §5).
METRICS = {
    "IMPRESSION": "impressions", "MEMBERS_REACHED": "members_reached", "REACTION": "reactions",
    "COMMENT": "comments", "RESHARE": "reshares",
}


# LinkedIn's "little" text format (the commentary of /rest/posts) reserves these for mentions,
# templates and hashtags; unescaped, LinkedIn cuts the post at the first one and still answers 201.
LITTLE_RESERVED = frozenset("|{}@[]()<>#\\*_~")
# `#` starting a word is a hashtag element, kept so that hashtags stay links; every other reserved
# character (a `#` alone or inside a word, as in a URL's fragment, too) is escaped.
_HASHTAG = re.compile(r"(?<![^\W_])#(?=[^\W_])")


def little_text(text: str) -> str:
    """Plain text as LinkedIn's little format: each reserved character backslash-escaped, hashtags kept."""
    kept = {match.start() for match in _HASHTAG.finditer(text)}
    return "".join(
        f"\\{char}" if char in LITTLE_RESERVED and index not in kept else char for index, char in enumerate(text)
    )


def author_urn(provider_user_id: str) -> str:
    """The member URN LinkedIn wants as a post's author and an image's owner."""
    return f"urn:li:person:{provider_user_id}"


def post_url(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}"


def _analytics_entity(urn: str) -> str:
    # Rest.li 2.0 syntax: (share:urn%3Ali%3Ashare%3A1); a ugcPost URN is a `ugc` entity.
    kind = "ugc" if urn.startswith("urn:li:ugcPost:") else "share"
    return f"({kind}:{quote(urn, safe='')})"


class LinkedInClient:
    """One client per use (`async with`); its httpx client is closed with it."""

    name = "linkedin"
    media_lifetime = None  # an uploaded image stays the member's

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.auth_base = settings.linkedin_auth_base_url.rstrip("/")
        self.api_base = settings.linkedin_api_base_url.rstrip("/")
        self._http = provider_http_client(settings)

    async def __aenter__(self) -> LinkedInClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._http.aclose()

    # --- transport ---------------------------------------------------------------------------

    def _rest_headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}", "LinkedIn-Version": self.settings.linkedin_api_version,
            "X-Restli-Protocol-Version": "2.0.0",
        }

    async def _send(self, method: str, url: str, *, what: str, **options: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, url, **options)
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
                raise ProviderUnavailable(f"LinkedIn could not be reached to {what}", sent=False) from None
            raise ProviderTimeout(
                f"LinkedIn did not answer within {self.settings.provider_timeout_seconds:g} s to {what}"
            ) from None
        except (httpx.ConnectError, httpx.UnsupportedProtocol) as exc:
            raise ProviderUnavailable(
                f"LinkedIn could not be reached to {what}: {type(exc).__name__}", sent=False
            ) from None
        except httpx.TransportError as exc:  # the connection broke after the request went out
            raise ProviderUnavailable(f"the connection to LinkedIn broke while trying to {what}", sent=True) from exc
        if response.status_code >= 400:
            raise self._error(response, what)
        return response

    def _error(self, response: httpx.Response, what: str) -> ProviderError:
        status = response.status_code
        code, message = _error_fields(response)
        said = f"LinkedIn answered {status}{f' {code}' if code else ''} to {what}"
        if message:
            said += f": {message[:300]}"
        if status == 429:  # LinkedIn sends no reset header; the policy backs off
            return RateLimited(said, reset_at=_retry_after(response))
        if status >= 500:
            # 503 is LinkedIn taking nothing; another 5xx to a new post may come after its
            # creation, so that post may exist: recorded unknown, never retried blindly.
            return ProviderUnavailable(said, sent=status != 503 and what == CREATE_POST)
        if status == 401:
            return Unauthorized(said)
        if code == "DUPLICATE_POST" or "duplicate" in (message or "").lower():
            return DuplicateContent(said)
        if status == 403 and what == "read post analytics":
            return PermissionMissing(
                f"{said}; the app needs the {ANALYTICS_SCOPE} scope (LinkedIn's Community Management API "
                "product), then reconnect the account", scope=ANALYTICS_SCOPE,
            )
        if status == 403:
            return PermissionMissing(f"{said}; the app needs the w_member_social scope", scope="w_member_social")
        return ProviderRejected(said)

    # --- OAuth and identity ------------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str, code_challenge: str | None = None) -> str:
        """The member's consent page (LinkedIn's 3-legged flow has no PKCE for web apps)."""
        query = {
            "response_type": "code", "client_id": self.settings.linkedin_client_id, "redirect_uri": redirect_uri,
            "state": state, "scope": " ".join(SCOPES),
        }
        return f"{self.auth_base}/authorization?{urlencode(query, quote_via=quote)}"

    async def _token(self, form: dict[str, str], what: str) -> TokenSet:
        response = await self._send(
            "POST", f"{self.auth_base}/accessToken", what=what,
            data={**form, "client_id": self.settings.linkedin_client_id,
                  "client_secret": self.settings.linkedin_client_secret.get_secret_value()},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        body = _json(response, what)
        if not isinstance(body.get("access_token"), str):
            raise ProviderRejected(f"LinkedIn's answer to {what} holds no access token")
        now = utcnow()
        return TokenSet(
            access_token=body["access_token"], expires_at=_in(now, body.get("expires_in")),
            refresh_token=body.get("refresh_token"), refresh_expires_at=_in(now, body.get("refresh_token_expires_in")),
            scopes=tuple(str(body.get("scope", "")).replace(",", " ").split()),
        )

    async def revoke(self, token: str, *, is_refresh_token: bool = False) -> None:
        """POST {auth base}/revoke, form-encoded with the client credentials: the token stops working."""
        await self._send(
            "POST", f"{self.auth_base}/revoke", what="revoke the token",
            data={"token": token, "client_id": self.settings.linkedin_client_id,
                  "client_secret": self.settings.linkedin_client_secret.get_secret_value()},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    async def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None = None) -> TokenSet:
        return await self._token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}, "exchange the code"
        )

    async def refresh(self, refresh_token: str) -> TokenSet:
        """Only for apps LinkedIn approved for programmatic refresh; others reconnect every 60 days."""
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token}, "refresh the token")

    async def fetch_identity(self, access_token: str) -> Identity:
        response = await self._send(
            "GET", f"{self.api_base}/v2/userinfo", what="read the member",
            headers={"Authorization": f"Bearer {access_token}"},
        )
        body = _json(response, "read the member")
        if not isinstance(body.get("sub"), str) or not body["sub"]:
            raise ProviderRejected("LinkedIn's userinfo holds no member id (sub)")
        name = body.get("name") or " ".join(p for p in (body.get("given_name"), body.get("family_name")) if p)
        return Identity(provider_user_id=body["sub"], display_name=str(name or body["sub"])[:255])

    # --- posts and images --------------------------------------------------------------------

    async def publish(self, credentials: Credentials, segment: SegmentToPublish, *, reply_to: str | None = None) -> str:
        """POST /rest/posts; the new post's URN comes back in the x-restli-id header (the body is empty)."""
        if reply_to is not None:
            raise ProviderRejected("a LinkedIn post is one segment; threads are not supported")
        body: dict[str, Any] = {
            "author": author_urn(credentials.provider_user_id), "commentary": little_text(segment.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED", "isReshareDisabledByAuthor": False,
        }
        images = list(segment.provider_media_ids)
        if len(images) == 1:
            body["content"] = {"media": {"id": images[0]}}
        elif images:
            body["content"] = {"multiImage": {"images": [{"id": image} for image in images]}}
        response = await self._send(
            "POST", f"{self.api_base}/rest/posts", what=CREATE_POST,
            headers=self._rest_headers(credentials.access_token), json=body,
        )
        urn = response.headers.get("x-restli-id")
        if not urn:
            # It was created (2xx) but we cannot tell which post it is: never post again blindly.
            raise ProviderUnavailable("LinkedIn accepted the post without naming it (no x-restli-id)", sent=True)
        return urn

    async def delete(self, credentials: Credentials, provider_post_id: str) -> None:
        try:
            await self._send(
                "DELETE", f"{self.api_base}/rest/posts/{quote(provider_post_id, safe='')}", what="delete the post",
                headers=self._rest_headers(credentials.access_token),
            )
        except ProviderRejected as exc:
            if "answered 404" not in exc.message:  # already gone is what we wanted
                raise

    async def upload_media(self, credentials: Credentials, media: MediaToUpload) -> UploadedMedia:
        """initializeUpload with the member as owner, then one PUT of the bytes to the upload URL."""
        response = await self._send(
            "POST", f"{self.api_base}/rest/images", what="start an image upload", params={"action": "initializeUpload"},
            headers=self._rest_headers(credentials.access_token),
            json={"initializeUploadRequest": {"owner": author_urn(credentials.provider_user_id)}},
        )
        value = _json(response, "start an image upload").get("value") or {}
        upload_url, image = value.get("uploadUrl"), value.get("image")
        if not isinstance(upload_url, str) or not isinstance(image, str):
            raise ProviderRejected("LinkedIn's initializeUpload answer holds no uploadUrl or image")
        await self._send(
            "PUT", upload_url, what="upload the image", content=media.data,
            headers={"Authorization": f"Bearer {credentials.access_token}", "Content-Type": media.mime_type},
        )
        return UploadedMedia(provider_media_id=image, expires_at=None)

    async def fetch_metrics(
        self, credentials: Credentials, provider_post_ids: Sequence[str]
    ) -> dict[str, dict[str, int]]:
        """memberCreatorPostAnalytics, one TOTAL per metric and post (the finder takes one entity and type)."""
        figures: dict[str, dict[str, int]] = {}
        for urn in provider_post_ids:
            figures[urn] = {}
            for metric, name in METRICS.items():
                query = f"q=entity&entity={_analytics_entity(urn)}&queryType={metric}&aggregation=TOTAL"
                response = await self._send(
                    "GET", f"{self.api_base}/rest/memberCreatorPostAnalytics?{query}", what="read post analytics",
                    headers=self._rest_headers(credentials.access_token),
                )
                elements = _json(response, "read post analytics").get("elements") or []
                figures[urn][name] = sum(int(e.get("count") or 0) for e in elements if isinstance(e, dict))
        return figures


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ProviderRejected(f"LinkedIn's answer to {what} is not JSON") from None
    if not isinstance(body, dict):
        raise ProviderRejected(f"LinkedIn's answer to {what} is not a JSON object")
    return body


def _error_fields(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = body.get("code") or body.get("serviceErrorCode") or body.get("error")
    message = body.get("message") or body.get("error_description")
    return (str(code) if code else None), (str(message) if message else None)


def _retry_after(response: httpx.Response) -> datetime | None:
    value = response.headers.get("retry-after", "")
    return utcnow() + timedelta(seconds=int(value)) if value.isdecimal() else None


def _in(now: datetime, seconds: object) -> datetime | None:
    return now + timedelta(seconds=int(seconds)) if isinstance(seconds, int | float) and seconds > 0 else None
