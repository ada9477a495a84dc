"""Plain ASGI middleware (no BaseHTTPMiddleware: it costs throughput and breaks streaming)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.datastructures import Headers
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import error_body, is_service_busy, service_busy_response
from shared.http import HEAD_REQUEST
from shared.logging import path_fields, request_id_var

logger = logging.getLogger("magnetiq.access")

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# Longer request targets (path and query) are refused with 414 before anything looks at them.
# 8 KiB is what common servers and proxies accept; no route of ours needs a fraction of it.
MAX_REQUEST_TARGET_BYTES = 8 * 1024
_NO_CONTENT_HEADERS = frozenset({b"content-type", b"content-length"})


RawHeaders = list[tuple[bytes, bytes]]


def _error_message(status: int, code: str, message: str, headers: RawHeaders | None = None) -> tuple[Message, Message]:
    """The start and body messages of an error in the envelope, keeping `headers` (CORS, say)."""
    body = json.dumps(error_body(code, message)).encode()
    own = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    start = {"type": "http.response.start", "status": status, "headers": [*(headers or []), *own]}
    return start, {"type": "http.response.body", "body": body}


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    for part in _error_message(status, code, message):
        await send(part)


class RequestLimits:
    """Request targets past 8 KiB are a 414, and a body past its limit a 413, both in the envelope.

    Sits inside CORS, so a browser can read either refusal. The body itself is counted by
    Starlette's limit (inside this); for a body whose declared length is already too long it
    answers in plain text, which is put in the envelope here. A route that declares its own
    limit is an upload: its refusal names the file size the settings allow."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) > MAX_REQUEST_TARGET_BYTES:
            await _send_error(send, 414, "URI_TOO_LONG", "The request's path and query are too long")
            return
        replaced: list[Message] = []

        async def send_in_envelope(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 413 and _is_plain_text(message):
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _NO_CONTENT_HEADERS]
                message, body = _error_message(413, *_too_large(scope), kept)
                replaced.append(body)
            elif message["type"] == "http.response.body" and replaced:
                message = replaced[0]
            await send(message)

        await self.app(scope, receive, send_in_envelope)


def _is_plain_text(start: Message) -> bool:
    return any(k == b"content-type" and v.startswith(b"text/plain") for k, v in start.get("headers", []))


def _too_large(scope: Scope) -> tuple[str, str]:
    if getattr(scope.get("route"), "max_body_size", None) is not None:
        max_file_size = scope["app"].state.settings.max_file_size
        return "FILE_TOO_LARGE", f"Files may be at most {max_file_size} bytes"
    limit = scope.get(MAX_BODY_SIZE_SCOPE_KEY)
    return "PAYLOAD_TOO_LARGE", f"The request body may be at most {limit} bytes" if limit else "The body is too large"


class RequestContextMiddleware:
    """Request ids, access logs, HEAD, and an envelope for anything unhandled."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = self._incoming_request_id(scope) or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        header = (b"x-request-id", request_id.encode())
        started = time.perf_counter()
        method = scope["method"]
        status_holder = {"status": 500, "started": False}
        if method == "HEAD":
            # RFC 9110: HEAD wherever GET is, same status and headers, no body. Routing sees a GET;
            # files see the mark and send their headers only (shared/http.py).
            scope = {**scope, "method": "GET", HEAD_REQUEST: True}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                headers = message.get("headers", [])
                if message["status"] == 204:  # no content, so no content type either
                    headers = [(k, v) for k, v in headers if k.lower() not in _NO_CONTENT_HEADERS]
                message["headers"] = [*headers, header]
            elif message["type"] == "http.response.body" and method == "HEAD" and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if status_holder["started"]:
                logger.exception("error after the response started", extra={"method": method, **path_fields(scope)})
                raise
            if is_service_busy(exc):  # raised outside routing (the cached-page fast path, say)
                logger.warning("service busy", extra={"method": method, **path_fields(scope)})
                await service_busy_response()(scope, receive, send_with_id)
            else:
                logger.exception("unhandled error", extra={"method": method, **path_fields(scope)})
                await _send_error(send_with_id, 500, "INTERNAL_ERROR", "An unexpected error occurred")
        finally:
            status = status_holder["status"]
            # Successful reads are the bulk of traffic and the proxy in front logs them anyway;
            # at INFO they would cost a sizable share of a cached read. DEBUG=true shows them.
            level = logging.DEBUG if method in _READS and status < 400 else logging.INFO
            if logger.isEnabledFor(level):  # a record that goes nowhere costs nothing to build
                logger.log(
                    level,
                    "request",
                    extra={
                        "method": method,
                        **path_fields(scope),  # routing has filled in the path parameters by now
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            request_id_var.reset(token)

    @staticmethod
    def _incoming_request_id(scope: Scope) -> str | None:
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                return candidate if _VALID_REQUEST_ID.match(candidate) else None
        return None


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS handling; a refused preflight answers in the error envelope like every other error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
        message = bytes(response.body).decode() or "CORS preflight refused"  # "Disallowed CORS origin, method"
        return JSONResponse(error_body("CORS_NOT_ALLOWED", message), status_code=400, headers=headers)
