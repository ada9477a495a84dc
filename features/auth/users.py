"""User accounts: creation, passwords policy, administration (roles, deactivation)."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from features.auth.errors import EmailTaken, LastAdmin, WeakPassword
from features.auth.models import RefreshToken, User
from features.auth.schemas import UserCreate, UserUpdate
from shared.db import utcnow
from shared.errors import NotFound, PermissionDenied
from shared.events import EventBus, UserRemoved
from shared.pagination import ListParams, paginate, sort_order, text_contains
from shared.permissions import Principal, Role
from shared.security import hash_password
from shared.visitors import normalize_email

PASSWORD_MIN_LENGTH = 12


# --- passwords -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password_policy(password: str, *, field: str = "password") -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise WeakPassword(f"Use at least {PASSWORD_MIN_LENGTH} characters", field=field)
    if password.lower() in _common_passwords():
        raise WeakPassword("This password is too common; choose another", field=field)


# --- users -----------------------------------------------------------------------------------


async def get_user_by_email(session: AsyncSession, *, email: str) -> User | None:
    return (await session.exec(select(User).where(User.email == normalize_email(email)))).first()


async def create_user(session: AsyncSession, *, data: UserCreate) -> User:
    check_password_policy(data.password)
    # Hash before the first query: the write lock is taken there and argon2 is slow.
    hashed = await hash_password(data.password)
    if await get_user_by_email(session, email=data.email) is not None:
        raise EmailTaken(field="email")
    user = User(
        email=normalize_email(data.email), hashed_password=hashed,
        first_name=data.first_name, last_name=data.last_name, role=data.role,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent insert of the same address won the race
        raise EmailTaken(field="email") from exc
    return user


async def revoke_all_sessions(session: AsyncSession, *, user: User) -> None:
    """Ends every login of the user: refresh tokens die, and with their login the access tokens."""
    await session.exec(  # type: ignore[call-overload]
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


def can_log_in(user: User | None) -> bool:
    return user is not None and user.is_active and user.deleted_at is None


# --- administration --------------------------------------------------------------------------


async def get_user(session: AsyncSession, *, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


USER_SORT_COLUMNS = {
    "created_at": User.created_at, "email": User.email, "last_login": User.last_login, "role": User.role,
}


async def list_users(
    session: AsyncSession, *, params: ListParams, role: Role | None = None, is_active: bool | None = None,
    q: str | None = None, sort: str | None = None,
) -> tuple[list[User], int]:
    statement = select(User)
    if role is not None:
        statement = statement.where(User.role == role)
    if is_active is not None:
        statement = statement.where(User.is_active == is_active)
    if q:
        statement = statement.where(
            or_(*(text_contains(column, q) for column in (col(User.email), col(User.first_name), col(User.last_name))))
        )
    order = sort_order(sort, USER_SORT_COLUMNS, default=[col(User.id).asc()])
    return await paginate(session, statement=statement, params=params, order_by=order)


async def _is_last_active_admin(session: AsyncSession, *, user: User) -> bool:
    if user.role != Role.ADMIN or not can_log_in(user):
        return False
    others = (
        await session.exec(
            select(func.count()).select_from(User).where(
                User.role == Role.ADMIN, User.is_active == True, col(User.deleted_at).is_(None),  # noqa: E712
                User.id != user.id,
            )
        )
    ).one()
    return others == 0


async def update_user(session: AsyncSession, *, actor: Principal, user_id: int, data: UserUpdate) -> User:
    user = await get_user(session, user_id=user_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "role" in changes and changes["role"] != user.role:
        if user.id == actor.user_id:
            raise PermissionDenied("You cannot change your own role")
        if await _is_last_active_admin(session, user=user):
            raise LastAdmin()
        user.role = changes["role"]
    if changes.get("is_active") is False and user.is_active:
        await _deactivate(session, actor=actor, user=user, deleted=False)
    elif changes.get("is_active") is True and not user.is_active:
        user.is_active, user.deleted_at = True, None
    for name in ("first_name", "last_name"):
        if name in changes:
            setattr(user, name, changes[name])
    user.updated_at = utcnow()
    session.add(user)
    return user


async def _deactivate(session: AsyncSession, *, actor: Principal, user: User, deleted: bool) -> None:
    if user.id == actor.user_id:
        raise PermissionDenied("You cannot deactivate your own account")
    if await _is_last_active_admin(session, user=user):
        raise LastAdmin()
    user.is_active = False
    if deleted:
        user.deleted_at = utcnow()
    await revoke_all_sessions(session, user=user)


async def deactivate_user(session: AsyncSession, *, events: EventBus, actor: Principal, user_id: int) -> User:
    """Soft-deletes a user: inactive, deleted_at set, every token revoked, UserRemoved published."""
    user = await get_user(session, user_id=user_id)
    if user.deleted_at is None:
        await _deactivate(session, actor=actor, user=user, deleted=True)
        user.updated_at = utcnow()
        session.add(user)
        await session.flush()
        # The row stays, so ON DELETE rules never fire: slices that point at users hear it here.
        await events.publish(UserRemoved(user_id=user_id), session)
    return user
