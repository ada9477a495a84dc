"""The password-reset mail, in every supported language (texts in mail_texts/), rendered when sent.

Users have no language of their own: the mail follows the Accept-Language of the request that
asked for it, by the kernel's one rule (supported and written, else the default language).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from pydantic import BaseModel
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.auth.models import PasswordResetToken, User
from features.auth.users import can_log_in
from shared.config import Settings
from shared.db import utcnow
from shared.mail_templates import Draft, MailTemplate, ServedLanguage
from shared.security import digest

RESET_TOKEN_TTL = timedelta(minutes=30)
TEXTS = Path(__file__).parent / "mail_texts"


def reset_token(settings: Settings, nonce: str) -> str:
    """The reset link's token for a nonce; only SECRET_KEY turns the queued nonce into it."""
    # The queued mail keeps only the nonce: without SECRET_KEY it is no reset link, so neither
    # the database nor a backup of it ever holds a usable token (the token table holds a digest).
    key = settings.secret_key.get_secret_value().encode()
    mac = hmac.new(key, f"password-reset:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


class PasswordResetMail(BaseModel):
    user_id: int
    nonce: str
    language: str | None = None  # the request's Accept-Language, as served; rows queued before it have none


async def _load(
    session: AsyncSession, settings: Settings, params: PasswordResetMail, served: ServedLanguage
) -> Draft | None:
    """Nothing to send once the link could no longer be used."""
    user = await session.get(User, params.user_id)
    token = reset_token(settings, params.nonce)
    stored = (
        await session.exec(select(PasswordResetToken).where(PasswordResetToken.token_digest == digest(token)))
    ).first()
    if user is None or not can_log_in(user) or stored is None or stored.used_at is not None:
        return None
    if stored.expires_at <= utcnow():
        return None
    values = {
        "first_name": user.first_name, "minutes": int(RESET_TOKEN_TTL.total_seconds() // 60),
        "link": f"{settings.frontend_base_url.rstrip('/')}/reset-password?{urlencode({'token': token})}",
    }
    return Draft(to=user.email, language=served(params.language), values=values)


PASSWORD_RESET = MailTemplate(name="auth.password_reset", folder=TEXTS, params=PasswordResetMail, load=_load)
MAIL_TEMPLATES = (PASSWORD_RESET,)
