"""HTTP layer of /api/v1/admin: user administration and system health (admins only)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from features.admin import checks
from features.admin.dependencies import SystemProbesDep
from features.admin.schemas import SystemHealth
from features.auth.api import UserCreate, UserStaffView, UserUpdate, create_user, deactivate_user, get_user
from features.auth.api import list_users as list_auth_users
from features.auth.api import update_user as update_auth_user
from shared.config import SettingsDep
from shared.db import DatabaseDep, ReadSession, WriteSession
from shared.errors import error_responses
from shared.events import EventBusDep
from shared.http import IdPath
from shared.pagination import ListPage, Pagination
from shared.permissions import IsAdmin, Role

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=error_responses(400, 401, 403, 422, 500))

UserId = Annotated[int, Query(ge=1)]

@router.get("/users", response_model=ListPage[UserStaffView])
async def list_users(
    _admin: IsAdmin,
    session: ReadSession,
    params: Pagination,
    role: Role | None = None,
    is_active: bool | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Search in email and names")] = None,
    sort: Annotated[
        str | None, Query(description="created_at, email, last_login or role; prefix - for descending")
    ] = None,
) -> ListPage[UserStaffView]:
    """List users, newest last unless sorted otherwise."""
    items, total = await list_auth_users(session, params=params, role=role, is_active=is_active, q=q, sort=sort)
    return ListPage(items=items, total=total, limit=params.limit, offset=params.offset)

@router.post(
    "/users", response_model=UserStaffView, status_code=status.HTTP_201_CREATED, responses=error_responses(409)
)
async def create_admin_user(body: UserCreate, _admin: IsAdmin, session: WriteSession) -> UserStaffView:
    """Create a user with a role."""
    return await create_user(session, data=body)

@router.get("/users/{user_id}", response_model=UserStaffView, responses=error_responses(404))
async def read_user(user_id: IdPath, _admin: IsAdmin, session: ReadSession) -> UserStaffView:
    """One user."""
    return await get_user(session, user_id=user_id)

@router.put("/users/{user_id}", response_model=UserStaffView, responses=error_responses(404, 409))
async def update_user(user_id: IdPath, body: UserUpdate, admin: IsAdmin, session: WriteSession) -> UserStaffView:
    """Change names, role or active state; the last active admin keeps their role and access."""
    return await update_auth_user(session, actor=admin, user_id=user_id, data=body)

@router.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404, 409))
async def deactivate_admin_user(user_id: IdPath, admin: IsAdmin, session: WriteSession, events: EventBusDep) -> None:
    """Deactivate a user: they can no longer log in, their tokens stop working, their assignments are released."""
    await deactivate_user(session, events=events, actor=admin, user_id=user_id)

@router.get("/system-health", response_model=SystemHealth)
async def read_system_health(
    _admin: IsAdmin, request: Request, database: DatabaseDep, settings: SettingsDep, probes: SystemProbesDep
) -> SystemHealth:
    """The worst of eight checks, each with its status, message and details: database, disk, upload_dir,
    smtp, workers, queues, providers, backups. They run side by side, each within 5 s."""
    return await checks.system_health(database, settings, probes, started_at=request.app.state.started_at)
