"""The auth slice's api: what other slices and the shell may use."""

from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from features.auth import mails, service, users
from features.auth.schemas import UserCreate, UserStaffView, UserUpdate
from shared.events import EventBus
from shared.jobs import JobContext, PeriodicJob
from shared.pagination import ListParams
from shared.permissions import Principal, Role

load_principal = service.load_principal
prune_expired_tokens = service.prune_expired_tokens  # (session, *, expired_before, limit) -> rows deleted

__all__ = [
    "JOBS", "MAIL_TEMPLATES", "UserCreate", "UserStaffView", "UserUpdate", "create_user", "deactivate_user", "get_user",
    "list_users", "load_principal", "prune_expired_tokens", "update_user",
]


async def create_user(session: AsyncSession, *, data: UserCreate) -> UserStaffView:
    return UserStaffView.model_validate(await users.create_user(session, data=data))


async def get_user(session: AsyncSession, *, user_id: int) -> UserStaffView:
    return UserStaffView.model_validate(await users.get_user(session, user_id=user_id))


async def list_users(
    session: AsyncSession, *, params: ListParams, role: Role | None = None, is_active: bool | None = None,
    q: str | None = None, sort: str | None = None,
) -> tuple[list[UserStaffView], int]:
    found, total = await users.list_users(session, params=params, role=role, is_active=is_active, q=q, sort=sort)
    return [UserStaffView.model_validate(user) for user in found], total


async def update_user(session: AsyncSession, *, actor: Principal, user_id: int, data: UserUpdate) -> UserStaffView:
    return UserStaffView.model_validate(await users.update_user(session, actor=actor, user_id=user_id, data=data))


async def deactivate_user(session: AsyncSession, *, events: EventBus, actor: Principal, user_id: int) -> UserStaffView:
    user = await users.deactivate_user(session, events=events, actor=actor, user_id=user_id)
    return UserStaffView.model_validate(user)


async def _purge(context: JobContext) -> None:
    async with context.database.session() as session:
        await service.purge_expired_auth_records(session)


MAIL_TEMPLATES = mails.MAIL_TEMPLATES
JOBS = (PeriodicJob(name="purge_expired_auth_records", interval=timedelta(hours=1), run=_purge),)
