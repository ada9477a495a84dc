"""Plain ASGI middleware (no BaseHTTPMiddleware: it costs throughput and breaks streaming)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import error_body
from shared.logging import loggable_path, request_id_var

logger = logging.getLogger("magnetiq.access")

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Request ids, access logs, and a 500 envelope (with the id) for anything unhandled."""

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
        status_holder = {"status": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error", extra={"method": scope["method"], "path": loggable_path(scope)})
            if status_holder["started"]:
                raise
            await self._send_internal_error(send_with_id)
        finally:
            status = status_holder["status"]
            # Successful reads are the bulk of traffic and the proxy in front logs them anyway;
            # at INFO they would cost a sizable share of a cached read. DEBUG=true shows them.
            level = logging.DEBUG if scope["method"] in _READS and status < 400 else logging.INFO
            if logger.isEnabledFor(level):  # a record that goes nowhere costs nothing to build
                logger.log(
                    level,
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": loggable_path(scope),  # routing has filled in the path parameters by now
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
    async def _send_internal_error(send: Send) -> None:
        body = json.dumps(error_body("INTERNAL_ERROR", "An unexpected error occurred")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 500,
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
