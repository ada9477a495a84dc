"""JSON structured logs, one object a line, carrying the request id of the request being served."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Path parameters that are credentials (a booking's cancel link carries a signed token in its
# path): logs show the parameter's name in their place, never the value.
SECRET_PATH_PARAMS = frozenset({"token"})


# A run of URL-safe characters that looks like a credential: long and mixed case (a JWT, a random
# token). Catches tokens in paths no route matched (a 404, a redirect), where no parameter is
# known. Slugs are lower case and media names are short, so they are kept. No lookaround: each
# character is looked at a bounded number of times, so the work stays linear in the path.
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_.~=-]{40,}")
_HAS_UPPER = re.compile(r"[A-Z]")
# Longer paths are cut in logs (their full length is logged beside them).
MAX_LOGGED_PATH = 512


def _redact_token_run(match: re.Match[str]) -> str:
    return "{redacted}" if _HAS_UPPER.search(match.group()) else match.group()


def loggable_path(scope: Any) -> str:
    """The request's path fit for a log line: no query string, no secret path parameters, bounded."""
    path: str = scope.get("path", "")
    params = scope.get("path_params") or {}
    for name in SECRET_PATH_PARAMS.intersection(params):
        if value := str(params[name]):
            path = path.replace(value, f"{{{name}}}")
    path = _TOKEN_RUN.sub(_redact_token_run, path)  # before the cut, so no token is cut into an unredacted stub
    if len(path) > MAX_LOGGED_PATH:
        return f"{path[:MAX_LOGGED_PATH]}…"
    return path


def path_fields(scope: Any) -> dict[str, Any]:
    """Log fields for a request's path: the loggable path, and its length when it had to be cut."""
    fields: dict[str, Any] = {"path": loggable_path(scope)}
    if len(scope.get("path", "")) > MAX_LOGGED_PATH:
        fields["path_length"] = len(scope["path"])
    return fields


# uvicorn adds an ANSI-coloured copy of its message; JSON logs want the plain one only.
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            payload["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(*, debug: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # uvicorn's own access log would print query strings, which may carry tokens; ours does not.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # httpx logs every request's full URL at INFO; calls to providers can carry tokens in them.
    # aiosqlite logs each statement with its bound values at DEBUG: addresses, names, digests.
    for name in ("httpx", "httpcore", "aiosqlite"):
        logging.getLogger(name).setLevel(logging.WARNING)
