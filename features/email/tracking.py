"""HTTP layer of /api/v1/public/email for mail systems: the bounce webhook, the open pixel and
the click redirect. The tracking links are signed (links.py): a forged or altered one is a 404."""

import base64
import hmac
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from features.email import feedback
from features.email.links import click_valid, open_pixel_valid
from features.email.schemas import BounceReport
from shared.config import SettingsDep
from shared.db import Database, DatabaseDep, WriteSession, utcnow
from shared.errors import AppError, NotFound, error_responses
from shared.http import IdPath
from shared.ratelimit import RefusedAttemptLimit

router = APIRouter(prefix="/api/v1/public/email", tags=["email"], responses=error_responses(400, 422, 500))

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
Signature = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# Only refused attempts count against the limit: a provider reporting a burst of bounces is not throttled.
_refused_attempts = RefusedAttemptLimit("email_webhook_refused")


async def _record(database: Database, recorder, recipient_id: int) -> None:
    # After the response: a pixel or a redirect never waits for the write lock behind a sending campaign.
    async with database.session() as session:
        await recorder(session, recipient_id=recipient_id, now=utcnow())


class WebhookTokenRefused(AppError):
    status_code = 401
    code = "INVALID_WEBHOOK_TOKEN"
    default_message = "The X-Webhook-Token header is missing or wrong"


async def _webhook_caller(
    request: Request, settings: SettingsDep,
    x_webhook_token: Annotated[str | None, Header(max_length=200, description="EMAIL_WEBHOOK_TOKEN")] = None,
) -> None:
    """The mail provider, by its token: checked before the body, so that a caller without it learns
    nothing from the body's validation (and 404 while no token is set)."""
    expected = settings.email_webhook_token.get_secret_value()
    if not expected:
        raise NotFound()
    await _refused_attempts.check(request)
    if x_webhook_token is None or not hmac.compare_digest(x_webhook_token.encode(), expected.encode()):
        await _refused_attempts.refused(request)
        raise WebhookTokenRefused()


@router.post(
    "/bounces", status_code=status.HTTP_202_ACCEPTED, response_class=Response, dependencies=[Depends(_webhook_caller)],
    responses={202: {"description": "Recorded (an unknown address is ignored)"}, **error_responses(401, 404, 429)},
)
async def report_email_bounce(body: BounceReport, session: WriteSession) -> Response:
    """A mail provider reports a bounce or complaint: hard bounces and complaints make the contact
    `bounced`, soft ones after three. 404 while EMAIL_WEBHOOK_TOKEN is not set."""
    await feedback.record_bounce(session, report=body, now=utcnow())
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.get(
    "/t/o/{recipient_id}/{signature}.gif", response_class=Response,
    responses={200: {"content": {"image/gif": {}}, "description": "A 1x1 transparent GIF"}, **error_responses(404)},
)
async def email_open_pixel(
    recipient_id: IdPath, signature: Signature, database: DatabaseDep, settings: SettingsDep, later: BackgroundTasks
) -> Response:
    """The open-tracking pixel of a campaign with `track_opens`; the first load counts an open."""
    if not open_pixel_valid(settings, recipient_id=recipient_id, signature=signature):
        raise NotFound()
    later.add_task(_record, database, feedback.record_open, recipient_id)
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get(
    "/t/c/{recipient_id}/{signature}", response_class=RedirectResponse, status_code=status.HTTP_302_FOUND,
    responses={302: {"description": "To the link's target"}, **error_responses(404)},
)
async def email_click_redirect(
    recipient_id: IdPath, signature: Signature, database: DatabaseDep, settings: SettingsDep, later: BackgroundTasks,
    u: Annotated[str, Query(max_length=4000, description="The link's target, as signed")],
) -> RedirectResponse:
    """A tracked link of a campaign with `track_clicks`: counts the first click, then redirects to
    the target it was signed for (never anywhere else)."""
    # The scheme in any case, as the mail tracked it (rendering.track_links); nothing but the web.
    if not u.lower().startswith(("https://", "http://")) or not click_valid(
        settings, recipient_id=recipient_id, signature=signature, target=u
    ):
        raise NotFound()
    later.add_task(_record, database, feedback.record_click, recipient_id)
    return RedirectResponse(u, status_code=status.HTTP_302_FOUND, headers=NO_STORE)
