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
from shared.logging import path_fields, request_id_var

logger = logging.getLogger("magnetiq.access")

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# Longer request targets (path and query) are refused with 414 before anything looks at them.
# 8 KiB is what common servers and proxies accept; no route of ours needs a fraction of it.
MAX_REQUEST_TARGET_BYTES = 8 * 1024
_NO_CONTENT_HEADERS = frozenset({b"content-type", b"content-length"})


def _is_plain_text(start: Message) -> bool:
    return any(k == b"content-type" and v.startswith(b"text/plain") for k, v in start.get("headers", []))


def _too_large_in_envelope(scope: Scope) -> tuple[Message, bytes]:
    limit = scope.get(MAX_BODY_SIZE_SCOPE_KEY)
    message = f"The request body may be at most {limit} bytes" if limit else "The request body is too large"
    body = json.dumps(error_body("PAYLOAD_TOO_LARGE", message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {"type": "http.response.start", "status": 413, "headers": headers}, body


class RequestContextMiddleware:
    """Request ids, access logs, HEAD, bounded request targets, and an envelope for anything unhandled."""

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
            # RFC 9110: HEAD wherever GET is, same status and headers, no body. Routing sees a GET.
            scope = {**scope, "method": "GET"}

        replaced_body: list[bytes] = []

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message["status"] == 413 and _is_plain_text(message):
                    # Starlette's body limit answers a declared oversized body in plain text itself.
                    message, body = _too_large_in_envelope(scope)
                    replaced_body.append(body)
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                headers = message.get("headers", [])
                if message["status"] == 204:  # no content, so no content type either
                    headers = [(k, v) for k, v in headers if k.lower() not in _NO_CONTENT_HEADERS]
                message["headers"] = [*headers, header]
            elif message["type"] == "http.response.body" and replaced_body:
                message = {"type": "http.response.body", "body": replaced_body[0]}
            elif message["type"] == "http.response.body" and method == "HEAD" and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        try:
            if len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) > MAX_REQUEST_TARGET_BYTES:
                await self._send_error(send_with_id, 414, "URI_TOO_LONG", "The request's path and query are too long")
            else:
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
                await self._send_error(send_with_id, 500, "INTERNAL_ERROR", "An unexpected error occurred")
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

    @staticmethod
    async def _send_error(send: Send, status: int, code: str, message: str) -> None:
        body = json.dumps(error_body(code, message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS handling; a refused preflight answers in the error envelope like every other error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
        message = bytes(response.body).decode() or "CORS preflight refused"  # "Disallowed CORS origin, method"
        return JSONResponse(error_body("CORS_NOT_ALLOWED", message), status_code=400, headers=headers)
