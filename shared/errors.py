"""Typed errors, the one error envelope of CONTRACT.md §4, and the handlers that render it."""

from __future__ import annotations

import copy
import logging
import sqlite3
from functools import cache
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import Schema
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.routing import Match

from shared.dialect import is_database_locked
from shared.logging import path_fields

logger = logging.getLogger("magnetiq.errors")


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    details: list[dict[str, Any]] = []


class ErrorResponse(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "success": False,
                    "error": {"code": "NOT_FOUND", "message": "Not found", "field": None, "details": []},
                }
            ]
        }
    )

    success: bool = False
    error: ErrorDetail


class AppError(Exception):
    """Base of every error a service raises on purpose; rendered by one handler."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"
    default_message: ClassVar[str] = "The request cannot be processed"

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.field = field
        self.details = details or []
        self.headers = headers or {}
        self.error_code = code or self.code
        super().__init__(self.message)


class BadRequest(AppError):
    status_code = 400
    code = "BAD_REQUEST"


class AuthenticationRequired(AppError):
    status_code = 401
    code = "AUTHENTICATION_REQUIRED"
    default_message = "Authentication required"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class InvalidToken(AuthenticationRequired):
    code = "INVALID_TOKEN"
    default_message = "The token is invalid or has been revoked"


class TokenExpired(AuthenticationRequired):
    code = "TOKEN_EXPIRED"
    default_message = "The token has expired"


class PermissionDenied(AppError):
    status_code = 403
    code = "INSUFFICIENT_PERMISSIONS"
    default_message = "You do not have permission to do this"


class NotFound(AppError):
    status_code = 404
    code = "NOT_FOUND"
    default_message = "Not found"


class Conflict(AppError):
    status_code = 409
    code = "CONFLICT"
    default_message = "The request conflicts with the current state"


class InvalidTransition(Conflict):
    """A status change the item's current status does not allow (each slice words its own message)."""

    code = "INVALID_TRANSITION"
    default_message = "This change is not possible in the item's current status"


class InUse(Conflict):
    code = "IN_USE"
    default_message = "Something still refers to this item"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "FILE_TOO_LARGE"
    default_message = "The file is larger than allowed"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "UNSUPPORTED_FILE_TYPE"
    default_message = "This type of file is not accepted"


class PreconditionFailed(AppError):
    status_code = 412
    code = "PRECONDITION_FAILED"
    default_message = "The resource has changed since you last read it"


class ValidationFailed(AppError):
    status_code = 422
    code = "VALIDATION_ERROR"
    default_message = "The request is not valid"


class RangeNotSatisfiable(AppError):
    status_code = 416
    code = "RANGE_NOT_SATISFIABLE"
    default_message = "The requested range lies beyond the end of the file"


class RateLimited(AppError):
    status_code = 429
    code = "RATE_LIMITED"
    default_message = "Too many requests; try again later"

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after_seconds))})
        self.retry_after_seconds = retry_after_seconds


def error_body(code: str, message: str, field: str | None = None, details: list | None = None) -> dict:
    return {
        "success": False,
        "error": {"code": code, "message": message, "field": field, "details": details or []},
    }


ERROR_SCHEMA_REF = "#/components/schemas/ErrorResponse"


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring each status with the error envelope, as application/json
    whatever the route's own 200 is (an HTML page's errors are the JSON envelope too).

    The envelope is referenced, not given as `model`: FastAPI builds a pydantic adapter for every
    `model` of every route in every app it builds (400 of them per app for this one envelope, most
    of what an app's first request costs); `declare_error_envelope` puts it in the document once.
    """
    return {
        code: {
            "description": HTTPStatus(code).phrase,
            "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
        }
        for code in status_codes
    }


@cache
def _error_envelope_definitions() -> dict[str, dict[str, Any]]:
    """ErrorResponse and ErrorDetail as FastAPI writes a model's components (through its Schema
    model, which drops nulls and orders keys), examples as pydantic makes them (nulls kept: examples.py)."""
    _, definitions = models_json_schema([(ErrorResponse, "serialization")], ref_template="#/components/schemas/{model}")
    components = {}
    for name, definition in definitions["$defs"].items():
        component = jsonable_encoder(Schema.model_validate(definition), by_alias=True, exclude_none=True)
        if "examples" in definition:
            component["examples"] = definition["examples"]
        components[name] = component
    return components


def declare_error_envelope(openapi: dict[str, Any]) -> None:
    """Adds ErrorResponse and what it holds to the document's components (sorted, as FastAPI sorts them)."""
    components = openapi.setdefault("components", {})
    schemas = {**components.get("schemas", {}), **copy.deepcopy(_error_envelope_definitions())}
    components["schemas"] = dict(sorted(schemas.items()))


_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "AUTHENTICATION_REQUIRED",
    403: "INSUFFICIENT_PERMISSIONS",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
}


def _field_path(location: tuple | list) -> str | None:
    # ("body", "user", 0, "email") -> "user.0.email"; the source ("body", "query") is not a field.
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or None


def _safe_validation_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Never echo the submitted input back: it may be a password.
    return [
        {"field": _field_path(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type", "")}
        for err in errors
    ]


async def _app_error_handler(_request: Request, exc: AppError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.error_code, exc.message, exc.field, exc.details),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _validation_handler(_request: Request, exc: RequestValidationError) -> JSONResponse:
    details = _safe_validation_details(list(exc.errors()))
    first = details[0] if details else {"field": None, "message": "Invalid request"}
    message = first["message"] if first["field"] is None else f"{first['field']}: {first['message']}"
    return JSONResponse(
        error_body("VALIDATION_ERROR", message, first["field"], details), status_code=422
    )


def allowed_methods(request: Request) -> str:
    """Every method some route of this path answers (routing names only the first route's), HEAD with GET."""
    scope = request.scope
    probe = {"type": "http", "path": scope["path"], "method": "", "root_path": scope.get("root_path", "")}
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.methods and route.matches(dict(probe))[0] is not Match.NONE:
            methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    status = exc.status_code
    code = _HTTP_CODES.get(status, HTTPStatus(status).name if status in HTTPStatus._value2member_map_ else "ERROR")
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    headers = dict(getattr(exc, "headers", None) or {})
    if status == 405 and (allowed := allowed_methods(request)):  # a mounted app names its own
        headers["Allow"] = allowed
    if status == 413 and (limit := request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)) is not None:
        message = f"The request body may be at most {limit} bytes"
    return JSONResponse(error_body(code, message), status_code=status, headers=headers or None)


def is_service_busy(exc: BaseException) -> bool:
    """Whether an error means "try again shortly": no pooled connection free in time, or the write
    lock held past the busy timeout. The request changed nothing, so it can simply be retried."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, ConnectionError | TimeoutError):
        # The database server could not be reached: it refused the connection (restarting, say) or took it
        # and did not answer within the pool timeout (asyncpg's connect timeout, shared/db.py). Nothing
        # else a request awaits raises these bare: provider calls raise httpx's errors.
        return True
    if isinstance(exc, DBAPIError | sqlite3.OperationalError):
        # The driver's own error reaches here from statements run straight on it (DriverStatement).
        return is_database_locked(exc)
    return False


def service_busy_response() -> JSONResponse:
    return JSONResponse(
        error_body("SERVICE_BUSY", "The service is busy; try again shortly"), status_code=503,
        headers={"Retry-After": "1"},
    )


async def _database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    if not is_service_busy(exc):
        return await _unhandled_handler(request, exc)
    logger.warning("service busy", extra={**path_fields(request.scope), "reason": type(exc).__name__})
    return service_busy_response()


async def _unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", extra=path_fields(request.scope))
    return JSONResponse(error_body("INTERNAL_ERROR", "An unexpected error occurred"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_handler)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, _database_error_handler)  # type: ignore[arg-type]  # OperationalError among them
    app.add_exception_handler(sqlite3.OperationalError, _database_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(PoolTimeout, _database_error_handler)
    app.add_exception_handler(ConnectionError, _database_error_handler)
    app.add_exception_handler(TimeoutError, _database_error_handler)
    app.add_exception_handler(Exception, _unhandled_handler)
