"""Authentication: logins, token rotation and revocation, users, password resets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import delete, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, exists, select
from sqlmodel.ext.asyncio.session import AsyncSession
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from features.auth.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidResetToken,
    LastAdmin,
    RefreshTokenReused,
    TooManyLoginAttempts,
    WeakPassword,
)
from features.auth.models import FailedLogin, PasswordResetToken, RefreshToken, User
from features.auth.schemas import TokenPair, UserCreate, UserUpdate
from shared.config import Settings
from shared.db import Database, utcnow
from shared.errors import InvalidToken, NotFound, PermissionDenied
from shared.mail import build_message, queue_mail
from shared.pagination import PageParams, paginate, sort_order
from shared.permissions import Principal, Role
from shared.security import (
    create_token,
    decode_token,
    digest,
    hash_password,
    new_opaque_token,
    verify_password,
)

PASSWORD_MIN_LENGTH = 12
LOCKOUT_ATTEMPTS = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
RESET_TOKEN_TTL = timedelta(minutes=30)


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


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.exec(select(User).where(User.email == normalize_email(email)))).first()


async def create_user(session: AsyncSession, data: UserCreate) -> User:
    check_password_policy(data.password)
    # Hash before the first query: the write lock is taken there and argon2 is slow.
    hashed = await hash_password(data.password)
    if await get_user_by_email(session, data.email) is not None:
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


async def revoke_all_sessions(session: AsyncSession, user: User) -> None:
    """Ends every login of the user: refresh tokens die, and with their login the access tokens."""
    await session.exec(  # type: ignore[call-overload]
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


# --- login and tokens ------------------------------------------------------------------------


async def _issue_token_pair(
    session: AsyncSession, settings: Settings, user: User, *, family_id: str | None = None
) -> TokenPair:
    secret = settings.secret_key.get_secret_value()
    family_id = family_id or uuid.uuid4().hex
    access = create_token(
        subject=str(user.id), token_type="access", secret=secret,
        ttl=timedelta(minutes=settings.access_token_expire_minutes),
        claims={"fam": family_id, "role": user.role},
    )
    refresh = create_token(
        subject=str(user.id), token_type="refresh", secret=secret,
        ttl=timedelta(days=settings.refresh_token_expire_days), claims={"fam": family_id},
    )
    session.add(RefreshToken(jti=refresh.jti, user_id=user.id, family_id=family_id, expires_at=refresh.expires_at))
    return TokenPair(
        access_token=access.token, refresh_token=refresh.token,
        expires_in=settings.access_token_expire_minutes * 60,
    )


def _can_log_in(user: User | None) -> bool:
    return user is not None and user.is_active and user.deleted_at is None


async def login(database: Database, settings: Settings, *, email: str, password: str) -> TokenPair:
    """Checks credentials and opens a login. Takes the database, not a session: it reads,
    verifies the password with no transaction open, then writes, so argon2's slowness
    never holds SQLite's write lock."""
    account = digest(normalize_email(email))
    now = utcnow()
    async with database.session(write=False) as session:
        failures = (
            await session.exec(
                select(FailedLogin.attempted_at)
                .where(FailedLogin.email_digest == account, FailedLogin.attempted_at > now - LOCKOUT_WINDOW)
                .order_by(col(FailedLogin.attempted_at))
            )
        ).all()
        user = await get_user_by_email(session, email)
    if len(failures) >= LOCKOUT_ATTEMPTS:
        unlock_at = failures[-LOCKOUT_ATTEMPTS] + LOCKOUT_WINDOW
        raise TooManyLoginAttempts(int((unlock_at - now).total_seconds()) + 1)

    # Unknown, inactive and deleted accounts are verified against a dummy hash: same time, same answer.
    check = await verify_password(user.hashed_password if _can_log_in(user) else None, password)

    async with database.session() as session:
        if not check.valid:
            session.add(FailedLogin(email_digest=account))
            await session.commit()
            raise InvalidCredentials()
        assert user is not None
        user = await session.get(User, user.id)
        if not _can_log_in(user):  # deactivated between our read and now
            raise InvalidCredentials()
        assert user is not None
        user.last_login = utcnow()
        if check.new_hash:
            user.hashed_password = check.new_hash
        session.add(user)
        await session.exec(delete(FailedLogin).where(FailedLogin.email_digest == account))  # type: ignore[call-overload]
        return await _issue_token_pair(session, settings, user)


async def _revoke_family(session: AsyncSession, family_id: str) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


async def rotate_refresh_token(session: AsyncSession, settings: Settings, refresh_token: str) -> TokenPair:
    claims = decode_token(refresh_token, expected_type="refresh", secret=settings.secret_key.get_secret_value())
    stored = await session.get(RefreshToken, claims["jti"])
    if stored is None or stored.revoked_at is not None:
        raise InvalidToken()
    if stored.rotated_at is not None:
        # A token already exchanged is being replayed: someone else holds a copy.
        await _revoke_family(session, stored.family_id)
        raise RefreshTokenReused()
    user = await session.get(User, stored.user_id)
    if user is None or not _can_log_in(user):
        raise InvalidToken()
    stored.rotated_at = utcnow()
    session.add(stored)
    return await _issue_token_pair(session, settings, user, family_id=stored.family_id)


async def logout(
    session: AsyncSession, settings: Settings, principal: Principal, refresh_token: str | None
) -> None:
    """Ends the login behind the access token, and the one behind the refresh token if given."""
    await _revoke_family(session, principal.login_id)
    if refresh_token:
        claims = decode_token(refresh_token, expected_type="refresh", secret=settings.secret_key.get_secret_value())
        if claims["sub"] == str(principal.user_id):
            await _revoke_family(session, claims["fam"])


async def load_principal(session: AsyncSession, claims: dict[str, Any]) -> Principal | None:
    """Who an access token speaks for, or None once its user or its login is gone.

    Every access token names its login (`fam`); revoking a login's refresh tokens (logout,
    theft, password reset, deactivation) therefore ends its access tokens too."""
    try:
        user_id, family_id = int(claims["sub"]), str(claims["fam"])
    except (KeyError, TypeError, ValueError):
        return None
    user = await session.get(User, user_id)
    if user is None or not _can_log_in(user):
        return None
    family_revoked = (
        await session.exec(
            select(exists().where(RefreshToken.family_id == family_id, col(RefreshToken.revoked_at).is_not(None)))
        )
    ).one()
    if family_revoked:
        return None
    return Principal(
        user_id=user_id, email=user.email, role=Role(user.role), token_id=claims["jti"], login_id=family_id,
        token_expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )


# --- password reset --------------------------------------------------------------------------


async def request_password_reset(session: AsyncSession, settings: Settings, email: str) -> None:
    """Mails a single-use reset link to an active user; does nothing visible otherwise."""
    user = await get_user_by_email(session, email)
    if not _can_log_in(user):
        return
    assert user is not None and user.id is not None
    token = new_opaque_token()
    session.add(
        PasswordResetToken(user_id=user.id, token_digest=digest(token), expires_at=utcnow() + RESET_TOKEN_TTL)
    )
    link = f"{settings.frontend_base_url.rstrip('/')}/reset-password?{urlencode({'token': token})}"
    minutes = int(RESET_TOKEN_TTL.total_seconds() // 60)
    text = (
        f"Hello {user.first_name},\n\n"
        f"someone asked to reset the password of your Magnetiq account. If it was you, open this link "
        f"within {minutes} minutes:\n\n{link}\n\nIf it was not you, ignore this message; "
        f"your password stays as it is.\n"
    )
    await queue_mail(session, build_message(settings, to=user.email, subject="Reset your Magnetiq password", text=text))


async def reset_password(session: AsyncSession, *, token: str, new_password: str) -> None:
    check_password_policy(new_password, field="new_password")
    hashed = await hash_password(new_password)
    stored = (
        await session.exec(select(PasswordResetToken).where(PasswordResetToken.token_digest == digest(token)))
    ).first()
    now = utcnow()
    if stored is None or stored.used_at is not None or stored.expires_at <= now:
        raise InvalidResetToken(field="token")
    user = await session.get(User, stored.user_id)
    if user is None or not _can_log_in(user):
        raise InvalidResetToken(field="token")
    # Burn this link and any other outstanding one for the account.
    await session.exec(  # type: ignore[call-overload]
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, col(PasswordResetToken.used_at).is_(None))
        .values(used_at=now)
    )
    user.hashed_password = hashed
    user.updated_at = now
    await revoke_all_sessions(session, user)


# --- housekeeping ----------------------------------------------------------------------------


async def purge_expired_auth_records(session: AsyncSession) -> None:
    now = utcnow()
    await session.exec(delete(RefreshToken).where(RefreshToken.expires_at < now))  # type: ignore[call-overload]
    await session.exec(delete(FailedLogin).where(FailedLogin.attempted_at < now - LOCKOUT_WINDOW))  # type: ignore[call-overload]
    await session.exec(delete(PasswordResetToken).where(PasswordResetToken.expires_at < now))  # type: ignore[call-overload]

async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


USER_SORT_COLUMNS = {
    "created_at": User.created_at, "email": User.email, "last_login": User.last_login, "role": User.role,
}


async def list_users(
    session: AsyncSession, params: PageParams, *, role: Role | None = None, is_active: bool | None = None,
    q: str | None = None, sort: str | None = None,
) -> tuple[list[User], int]:
    statement = select(User)
    if role is not None:
        statement = statement.where(User.role == role)
    if is_active is not None:
        statement = statement.where(User.is_active == is_active)
    if q:
        pattern = f"%{q.lower()}%"
        statement = statement.where(
            or_(col(User.email).like(pattern), func.lower(User.first_name).like(pattern),
                func.lower(User.last_name).like(pattern))
        )
    order = sort_order(sort, USER_SORT_COLUMNS, default=[col(User.id).asc()])
    return await paginate(session, statement, params, order)


async def _is_last_active_admin(session: AsyncSession, user: User) -> bool:
    if user.role != Role.ADMIN or not _can_log_in(user):
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


async def update_user(session: AsyncSession, actor: Principal, user_id: int, data: UserUpdate) -> User:
    user = await get_user(session, user_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "role" in changes and changes["role"] != user.role:
        if user.id == actor.user_id:
            raise PermissionDenied("You cannot change your own role")
        if await _is_last_active_admin(session, user):
            raise LastAdmin()
        user.role = changes["role"]
    if changes.get("is_active") is False and user.is_active:
        await _deactivate(session, actor, user, deleted=False)
    elif changes.get("is_active") is True and not user.is_active:
        user.is_active, user.deleted_at = True, None
    for name in ("first_name", "last_name"):
        if name in changes:
            setattr(user, name, changes[name])
    user.updated_at = utcnow()
    session.add(user)
    return user


async def _deactivate(session: AsyncSession, actor: Principal, user: User, *, deleted: bool) -> None:
    if user.id == actor.user_id:
        raise PermissionDenied("You cannot deactivate your own account")
    if await _is_last_active_admin(session, user):
        raise LastAdmin()
    user.is_active = False
    if deleted:
        user.deleted_at = utcnow()
    await revoke_all_sessions(session, user)


async def deactivate_user(session: AsyncSession, actor: Principal, user_id: int) -> User:
    """Soft-deletes a user: inactive, deleted_at set, every token revoked."""
    user = await get_user(session, user_id)
    if user.deleted_at is None:
        await _deactivate(session, actor, user, deleted=True)
        user.updated_at = utcnow()
        session.add(user)
    return user
