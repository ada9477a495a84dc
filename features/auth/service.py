"""Authentication: logins, token rotation and revocation, password resets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, exists, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.auth.errors import (
    InvalidCredentials,
    InvalidResetToken,
    RefreshTokenReused,
    RefreshTokenRotated,
    TooManyLoginAttempts,
)
from features.auth.mails import PASSWORD_RESET, RESET_TOKEN_TTL, PasswordResetMail, reset_token
from features.auth.models import FailedLogin, PasswordResetToken, RefreshToken, User
from features.auth.schemas import TokenPair
from features.auth.users import (
    can_log_in,
    check_password_policy,
    get_user_by_email,
    normalize_email,
    revoke_all_sessions,
)
from shared.config import Settings
from shared.db import Database, delete_batch, utcnow
from shared.dialect import serialize_on
from shared.errors import AppError, InvalidToken
from shared.permissions import Principal, Role
from shared.security import create_token, decode_token, digest, hash_password, new_opaque_token, verify_password

LOCKOUT_ATTEMPTS = 5
LOCKOUT_WINDOW = timedelta(minutes=15)


# --- login and tokens ------------------------------------------------------------------------


async def _issue_token_pair(
    session: AsyncSession, *, settings: Settings, user: User, family_id: str | None = None
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


async def _reserve_login_attempt(session: AsyncSession, *, account: str) -> int:
    """Counts this attempt as a failure before its password is checked (its reservation's id),
    or refuses it when the account has had its attempts in the window.

    Runs inside a writing transaction, which holds SQLite's write lock from its first statement:
    no other attempt can count between this count and this insert (on PostgreSQL, a lock on the account)."""
    await serialize_on(session, f"failed-logins:{account}")
    now = utcnow()
    recent = (
        await session.exec(
            select(FailedLogin.attempted_at)
            .where(FailedLogin.email_digest == account, FailedLogin.attempted_at > now - LOCKOUT_WINDOW)
            .order_by(col(FailedLogin.attempted_at).desc())
            .limit(LOCKOUT_ATTEMPTS)
        )
    ).all()
    if len(recent) >= LOCKOUT_ATTEMPTS:
        # Open again once the fifth most recent attempt leaves the window.
        raise TooManyLoginAttempts(int((recent[-1] + LOCKOUT_WINDOW - now).total_seconds()) + 1)
    reservation = FailedLogin(email_digest=account, attempted_at=now)
    session.add(reservation)
    await session.flush()
    assert reservation.id is not None
    return reservation.id


async def login(database: Database, settings: Settings, *, email: str, password: str) -> TokenPair:
    """Checks credentials and opens a login. Takes the database, not a session: the password is
    verified between two short transactions, so argon2's slowness never holds SQLite's write lock."""
    account = digest(normalize_email(email))
    async with database.session() as session:
        # The first statement waits for the write lock; only then is the time read, so a request
        # that queued is counted when it is admitted, in the order it is admitted.
        user = await get_user_by_email(session, email=email)
        reservation_id = await _reserve_login_attempt(session, account=account)

    # Unknown, inactive and deleted accounts are verified against a dummy hash: same time, same answer.
    check = await verify_password(user.hashed_password if can_log_in(user) else None, password)
    if not check.valid:
        raise InvalidCredentials()  # the reservation already records this failure

    async with database.session() as session:
        assert user is not None
        user = await session.get(User, user.id)
        if not can_log_in(user):  # deactivated while its password was being checked
            raise InvalidCredentials()
        assert user is not None
        user.last_login = utcnow()
        if check.new_hash:
            user.hashed_password = check.new_hash
        session.add(user)
        # A success forgives the attempts counted before it. Those reserved since are still being
        # checked, so they keep counting: deleting them would give a concurrent guesser more tries.
        await session.exec(  # type: ignore[call-overload]
            delete(FailedLogin).where(FailedLogin.email_digest == account, col(FailedLogin.id) <= reservation_id)
        )
        return await _issue_token_pair(session, settings=settings, user=user)


async def _revoke_family(session: AsyncSession, *, family_id: str) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


async def rotate_refresh_token(database: Database, settings: Settings, *, refresh_token: str) -> TokenPair:
    """A new pair for a refresh token used once only. One writing transaction, so two exchanges
    of one token are serialized: the second sees the first's `rotated_at`."""
    claims = decode_token(refresh_token, expected_type="refresh", secret=settings.secret_key.get_secret_value())
    async with database.session() as session:
        outcome = await _rotate(session, settings=settings, claims=claims)
    # A refusal that revoked a stolen login is raised only after that revocation committed.
    if isinstance(outcome, AppError):
        raise outcome
    return outcome


async def _rotate(session: AsyncSession, *, settings: Settings, claims: dict[str, Any]) -> TokenPair | AppError:
    # Locked on PostgreSQL: a second exchange waits here, then reads the first one's `rotated_at`.
    stored = await session.get(RefreshToken, claims["jti"], with_for_update=True)
    if stored is None or stored.revoked_at is not None:
        raise InvalidToken()
    if stored.rotated_at is not None:
        # Presented again right after its exchange, it is most likely a second tab that refreshed
        # at the same moment: refused, but the login lives on (its successor works). The refusal
        # hands out no tokens, so a thief racing the owner gains nothing from the grace.
        if utcnow() - stored.rotated_at < timedelta(seconds=settings.refresh_reuse_grace_seconds):
            raise RefreshTokenRotated()
        # Later, someone else holds a copy of a token already exchanged.
        await _revoke_family(session, family_id=stored.family_id)
        return RefreshTokenReused()
    user = await session.get(User, stored.user_id)
    if user is None or not can_log_in(user):
        raise InvalidToken()
    stored.rotated_at = utcnow()
    session.add(stored)
    return await _issue_token_pair(session, settings=settings, user=user, family_id=stored.family_id)


async def logout(
    session: AsyncSession, *, settings: Settings, principal: Principal, refresh_token: str | None
) -> None:
    """Ends the login behind the access token, and the one behind the refresh token if given."""
    await _revoke_family(session, family_id=principal.login_id)
    if not refresh_token:
        return
    try:
        claims = decode_token(refresh_token, expected_type="refresh", secret=settings.secret_key.get_secret_value())
    except InvalidToken:
        return  # a refresh token that is no token ends no other login; this one is over all the same
    if claims["sub"] == str(principal.user_id):
        await _revoke_family(session, family_id=claims["fam"])


async def load_principal(session: AsyncSession, *, claims: dict[str, Any]) -> Principal | None:
    """Who an access token speaks for, or None once its user or its login is gone.

    Every access token names its login (`fam`); revoking a login's refresh tokens (logout,
    theft, password reset, deactivation) therefore ends its access tokens too."""
    try:
        user_id, family_id = int(claims["sub"]), str(claims["fam"])
    except (KeyError, TypeError, ValueError):
        return None
    user = await session.get(User, user_id)
    if user is None or not can_log_in(user):
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


async def request_password_reset(
    session: AsyncSession, *, settings: Settings, email: str, language: str | None = None
) -> None:
    """Mails a single-use reset link to an active user (in `language` if written); does nothing visible otherwise."""
    user = await get_user_by_email(session, email=email)
    if not can_log_in(user):
        return
    assert user is not None and user.id is not None
    nonce = new_opaque_token()
    session.add(
        PasswordResetToken(
            user_id=user.id, token_digest=digest(reset_token(settings, nonce)), expires_at=utcnow() + RESET_TOKEN_TTL
        )
    )
    await PASSWORD_RESET.queue(
        session, recipient=user.email, params=PasswordResetMail(user_id=user.id, nonce=nonce, language=language)
    )


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
    if user is None or not can_log_in(user):
        raise InvalidResetToken(field="token")
    # Burn this link and any other outstanding one for the account.
    await session.exec(  # type: ignore[call-overload]
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, col(PasswordResetToken.used_at).is_(None))
        .values(used_at=now)
    )
    user.hashed_password = hashed
    user.updated_at = now
    await revoke_all_sessions(session, user=user)


# --- housekeeping ----------------------------------------------------------------------------


async def purge_expired_auth_records(session: AsyncSession) -> None:
    """Failed logins outside the lockout window count for nothing. Expired tokens are kept a while as a
    record of sessions and pruned in batches by the admin slice's maintenance (prune_expired_tokens)."""
    now = utcnow()
    await session.exec(delete(FailedLogin).where(FailedLogin.attempted_at < now - LOCKOUT_WINDOW))  # type: ignore[call-overload]


async def prune_expired_tokens(session: AsyncSession, *, expired_before: datetime, limit: int) -> int:
    """Deletes up to `limit` refresh and password-reset tokens that expired before then."""
    removed = await delete_batch(session, RefreshToken, col(RefreshToken.expires_at) < expired_before, limit=limit)
    if removed < limit:
        removed += await delete_batch(
            session, PasswordResetToken, col(PasswordResetToken.expires_at) < expired_before, limit=limit - removed
        )
    return removed

