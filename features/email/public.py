"""HTTP layer of the visitor's own links under /api/v1/public/email: confirm and unsubscribe.

GET shows a page and changes nothing (mail scanners and link previews follow links); its button
POSTs to the same URL. The unsubscribe POST is also RFC 8058's one-click request, whose form
body `List-Unsubscribe=One-Click` needs no reading: any POST to a valid link unsubscribes.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from features.email import contacts, pages
from features.email.links import PUBLIC_PREFIX
from features.email.models import Contact
from features.email.schemas import LinkVisitorView
from shared.config import SettingsDep
from shared.db import ReadSession, WriteSession
from shared.errors import NotFound, error_responses
from shared.link_pages import HEADERS, HTML_CONTENT, wants_json
from shared.ratelimit import RefusedAttemptLimit, public_write_limit

router = APIRouter(prefix=PUBLIC_PREFIX, tags=["email"])
# One-click unsubscribes (RFC 8058) come from mail providers' servers, many from one address: a
# valid link is never throttled, only guessing is (refused links count against the limit).
_refused_unsubscribes = RefusedAttemptLimit("email_unsubscribe_refused")

LinkToken = Annotated[str, Path(min_length=1, max_length=1024, description="The token from the mail's link")]
_PAGE = {200: {"content": HTML_CONTENT, "description": "A page with a button that POSTs; opening it changes nothing"},
         **error_responses(404, 422, 500)}
_DONE = {200: {"content": HTML_CONTENT, "description": "Done (HTML, or JSON for Accept: application/json)"},
         **error_responses(404, 422, 429, 500)}


def _answer(request: Request, contact: Contact, changed: bool, page: str) -> Response:
    if wants_json(request):
        result = LinkVisitorView(status=contact.status, changed=changed)  # type: ignore[arg-type]
        return JSONResponse(result.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
    return HTMLResponse(page, headers=HEADERS)


@router.get("/confirm/{token}", response_class=HTMLResponse, responses=_PAGE)
async def show_confirm_page(token: LinkToken, session: ReadSession, settings: SettingsDep) -> HTMLResponse:
    """What the double opt-in link would confirm (404 for an invalid or expired link)."""
    contact = await contacts.contact_for_confirm_link(session, settings=settings, token=token)
    return HTMLResponse(pages.confirm_page(contact), headers=HEADERS)


@router.post(
    "/confirm/{token}", response_model=LinkVisitorView, responses=_DONE,
    dependencies=[Depends(public_write_limit("email_confirm"))],
)
async def confirm_subscription(
    token: LinkToken, request: Request, session: WriteSession, settings: SettingsDep
) -> Response:
    """Confirm a subscription: a pending contact becomes subscribed (idempotent)."""
    contact, changed = await contacts.confirm(session, settings=settings, token=token)
    return _answer(request, contact, changed, pages.confirmed_page(contact))


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, responses=_PAGE)
async def show_unsubscribe_page(token: LinkToken, session: ReadSession, settings: SettingsDep) -> HTMLResponse:
    """What the unsubscribe link would do (404 for an invalid link or an erased contact)."""
    contact, _ = await contacts.contact_for_unsubscribe_link(session, settings=settings, token=token)
    return HTMLResponse(pages.unsubscribe_page(contact), headers=HEADERS)


@router.post(
    "/unsubscribe/{token}", response_model=LinkVisitorView, responses=_DONE,
    openapi_extra={"requestBody": {"required": False, "content": {"application/x-www-form-urlencoded": {
        "schema": {"type": "object", "properties": {"List-Unsubscribe": {"type": "string", "enum": ["One-Click"]}}}
    }}}},
)
async def unsubscribe(token: LinkToken, request: Request, session: WriteSession, settings: SettingsDep) -> Response:
    """Unsubscribe (the page's button, or a mail client's RFC 8058 one-click POST); idempotent.
    Only invalid links count against the rate limit."""
    await _refused_unsubscribes.check(request)
    try:
        contact, changed = await contacts.unsubscribe(session, settings=settings, token=token)
    except NotFound:
        await _refused_unsubscribes.refused(request)
        raise
    return _answer(request, contact, changed, pages.unsubscribed_page(contact))
