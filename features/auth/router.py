"""HTTP layer of /api/v1/auth: parse, call the service, return."""

from fastapi import APIRouter, Depends, Request, status

from features.auth import service, users
from features.auth.errors import RefreshTokenRotated
from features.auth.schemas import (
    ForgotPasswordRequest,
    LoginRequest,
    LogoutRequest,
    MessageResponse,
    RefreshRequest,
    ResetPasswordRequest,
    TokenPair,
    UserCreate,
    UserStaffView,
)
from shared.config import SettingsDep
from shared.db import DatabaseDep, ReadSession, WriteSession
from shared.errors import error_body, error_responses
from shared.i18n import accepted_language
from shared.permissions import CurrentPrincipal, IsAdmin
from shared.ratelimit import public_write_limit

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=error_responses(400, 422, 500))

FORGOT_PASSWORD_ANSWER = "If an account exists for this address, a reset link is on its way."

_REFRESH_REFUSED = {
    **error_responses(401)[401],
    "description": "INVALID_TOKEN (unknown, revoked or replayed: the login has ended), TOKEN_EXPIRED, or "
    "TOKEN_ROTATED (exchanged moments ago by another request: use the pair that request received)",
    "content": {
        "application/json": {
            **error_responses(401)[401]["content"]["application/json"],
            "example": error_body(RefreshTokenRotated.code, RefreshTokenRotated.default_message),
        }
    },
}


@router.post(
    "/login",
    response_model=TokenPair,
    dependencies=[Depends(public_write_limit("login"))],
    responses=error_responses(401, 429),
)
async def login(body: LoginRequest, database: DatabaseDep, settings: SettingsDep) -> TokenPair:
    """Exchange email and password for an access and a refresh token."""
    return await service.login(database, settings, email=body.email, password=body.password)


@router.post(
    "/refresh",
    response_model=TokenPair,
    dependencies=[Depends(public_write_limit("refresh"))],
    responses={**error_responses(429), 401: _REFRESH_REFUSED},
)
async def refresh_tokens(body: RefreshRequest, database: DatabaseDep, settings: SettingsDep) -> TokenPair:
    """Trade a refresh token for a new pair; the old refresh token stops working.

    Presented again within `REFRESH_REUSE_GRACE_SECONDS` (10 by default) of its exchange, as when
    two tabs refresh at the same moment, it answers 401 `TOKEN_ROTATED` and ends nothing: the
    client should use the pair the other request received (another tab's storage). Presented
    later it counts as theft: every token of that login stops working (401 `INVALID_TOKEN`).
    """
    return await service.rotate_refresh_token(database, settings, refresh_token=body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401))
async def logout(
    principal: CurrentPrincipal, session: WriteSession, settings: SettingsDep, body: LogoutRequest | None = None
) -> None:
    """End this login: the access token and its refresh tokens stop working."""
    refresh_token = body.refresh_token if body else None
    await service.logout(session, settings=settings, principal=principal, refresh_token=refresh_token)


@router.post(
    "/register",
    response_model=UserStaffView,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409),
)
async def register_user(body: UserCreate, _admin: IsAdmin, session: WriteSession) -> UserStaffView:
    """Create a user with a role (admins only)."""
    return UserStaffView.model_validate(await users.create_user(session, data=body))


@router.post(
    "/forgot-password",
    response_model=MessageResponse,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Depends(public_write_limit("forgot_password"))],
    responses=error_responses(429),
)
async def forgot_password(
    body: ForgotPasswordRequest, request: Request, session: WriteSession, settings: SettingsDep
) -> MessageResponse:
    """Mail a reset link; the answer is the same whether or not the address has an account."""
    # Users have no language: the mail is in the first supported one the browser accepts.
    language = accepted_language(request.headers.get("accept-language"), settings)
    await service.request_password_reset(session, settings=settings, email=body.email, language=language)
    return MessageResponse(message=FORGOT_PASSWORD_ANSWER)


@router.post(
    "/reset-password",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(public_write_limit("reset_password"))],
    responses=error_responses(400, 429),
)
async def reset_password(body: ResetPasswordRequest, session: WriteSession) -> None:
    """Set a new password with the token from the reset mail; every login of the account ends."""
    await service.reset_password(session, token=body.token, new_password=body.new_password)


@router.get("/me", response_model=UserStaffView, responses=error_responses(401))
async def read_current_user(principal: CurrentPrincipal, session: ReadSession) -> UserStaffView:
    """The user behind the access token."""
    return UserStaffView.model_validate(await users.get_user(session, user_id=principal.user_id))
