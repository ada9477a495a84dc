"""Roles, permissions and the FastAPI dependencies that enforce them.

The kernel decodes the bearer token; whether its user and token are still good is
answered by a resolver the shell installs (the auth slice's), since users live there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.routing import BaseRoute

from shared.config import Settings
from shared.errors import AuthenticationRequired, InvalidToken, PermissionDenied
from shared.security import decode_token


class Role(StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


class Permission(StrEnum):
    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    ADMIN = "admin"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.EDITOR: frozenset({Permission.READ, Permission.WRITE}),
    Role.VIEWER: frozenset({Permission.READ}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user behind a valid access token."""

    user_id: int
    email: str
    role: Role
    token_id: str
    login_id: str  # every token descended from one login shares it
    token_expires_at: datetime

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


class PrincipalResolver(Protocol):
    """Loads the signed-in user a token's claims name (the auth slice's `load_principal`)."""

    def __call__(self, session: AsyncSession, *, claims: dict[str, Any]) -> Awaitable[Principal | None]: ...

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/login")


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationRequired()
    settings: Settings = request.app.state.settings
    claims = decode_token(
        credentials.credentials, expected_type="access", secret=settings.secret_key.get_secret_value()
    )
    resolver: PrincipalResolver = request.app.state.principal_resolver
    # Its own short read: the request's session may lock for writing, and should not yet.
    async with request.app.state.db.session(write=False) as session:
        principal = await resolver(session, claims=claims)
    if principal is None:
        raise InvalidToken()
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """Staff or visitor: None without a token; a bad token is still refused, never downgraded."""
    if credentials is None:
        return None
    return await current_principal(request, credentials)


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]

BEARER_SCHEME = _bearer.scheme_name


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(sub.call is call or _depends_on(sub, call) for sub in dependant.dependencies)


def declare_optional_security(schema: dict[str, Any], routes: Iterable[BaseRoute]) -> None:
    """Marks the token optional on every operation that takes an `OptionalPrincipal` (and no required one).

    FastAPI lists the bearer scheme as required wherever it is used, auto_error or not; found from
    each route's dependency tree, so no route can forget to say its token is optional. In OpenAPI
    `[{}, {"HTTPBearer": []}]` reads "no requirement, or the bearer token".
    """
    # Route contexts, as FastAPI's own schema uses: routes of included routers with their prefix and
    # the router's dependencies.
    for route in iter_route_contexts(list(routes)):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        if not _depends_on(route.dependant, optional_principal) or _depends_on(route.dependant, current_principal):
            continue
        operations = schema["paths"].get(route.path_format, {})
        for method in route.methods:
            if (operation := operations.get(method.lower())) is not None:
                operation["security"] = [{}, {BEARER_SCHEME: []}]


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(permission):
            raise PermissionDenied()
        return principal

    check.__name__ = f"require_{permission.value}"
    return check


CanRead = Annotated[Principal, Depends(require(Permission.READ))]
CanWrite = Annotated[Principal, Depends(require(Permission.WRITE))]
CanDelete = Annotated[Principal, Depends(require(Permission.DELETE))]
IsAdmin = Annotated[Principal, Depends(require(Permission.ADMIN))]
