"""HTTP layer of /api/v1/communication/email/contacts: the audience (staff)."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import TypeAdapter, ValidationError

from features.email import contacts, imports
from features.email.schemas import (
    IMPORT_REQUEST_BODY,
    ContactCreate,
    ContactStaffView,
    ContactStatus,
    ContactUpdate,
    ImportReport,
    ImportStatus,
)
from shared.config import SettingsDep
from shared.db import DatabaseDep, ReadSession, WriteSession
from shared.errors import ValidationFailed, error_responses
from shared.http import IdPath
from shared.pagination import ListPage, Pagination
from shared.permissions import CanDelete, CanRead, CanWrite
from shared.uploads import UPLOAD_BODY_LIMIT, receive_upload

router = APIRouter(
    prefix="/api/v1/communication/email/contacts", tags=["email"],
    responses=error_responses(400, 401, 403, 422, 500),
)

ContactSort = Annotated[
    str | None, Query(max_length=32, description="created_at, updated_at, email, last_name or status; - for descending")
]
_IMPORT_STATUS = TypeAdapter(ImportStatus)


@router.get("", response_model=ListPage[ContactStaffView])
async def list_contacts(
    _reader: CanRead, session: ReadSession, page: Pagination,
    email: Annotated[str | None, Query(max_length=320, description="Exactly this address (any case)")] = None,
    status: Annotated[ContactStatus | None, Query(description="Only contacts in this status")] = None,
    tag: Annotated[str | None, Query(max_length=64, description="Only contacts with this tag")] = None,
    source: Annotated[str | None, Query(max_length=64, description="Only contacts from this source: `import`")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Search in address, names and company")] = None,
    sort: ContactSort = None,
) -> ListPage[ContactStaffView]:
    """List contacts, newest first, with their tags and sources."""
    items, total = await contacts.list_contacts(
        session, params=page, email=email, status=status, tag=tag, source=source, q=q, sort=sort
    )
    return ListPage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("", response_model=ContactStaffView, status_code=status.HTTP_201_CREATED, responses=error_responses(409))
async def create_contact(
    body: ContactCreate, _editor: CanWrite, session: WriteSession, settings: SettingsDep
) -> ContactStaffView:
    """Add a contact (editors): `subscribed` attests consent, `pending` mails a double opt-in link;
    409 EMAIL_TAKEN for a known address, EMAIL_SUPPRESSED for an erased one."""
    return await contacts.create_contact(session, settings=settings, data=body)


@router.post(
    "/import", response_model=ImportReport, openapi_extra={"requestBody": IMPORT_REQUEST_BODY},
    max_body_size=UPLOAD_BODY_LIMIT, responses=error_responses(413),
)
async def import_contacts(
    request: Request, _editor: CanWrite, database: DatabaseDep, settings: SettingsDep
) -> ImportReport:
    """Import a CSV of contacts (editors); bad rows are reported, never abort the good ones, and
    known contacts are filled in without resubscribing anyone who unsubscribed or bounced."""
    upload = await receive_upload(request, upload_dir=Path(settings.upload_dir), max_file_size=settings.max_file_size)
    try:
        try:
            wanted = _IMPORT_STATUS.validate_python(upload.fields.get("status"))
        except ValidationError:
            raise ValidationFailed("Say `subscribed` or `pending` in the form field status", field="status") from None
        assert upload.path is not None
        return await imports.import_csv(database, settings=settings, path=upload.path, status=wanted)
    finally:
        upload.discard()


@router.get("/{contact_id}", response_model=ContactStaffView, responses=error_responses(404))
async def read_contact(contact_id: IdPath, _reader: CanRead, session: ReadSession) -> ContactStaffView:
    """One contact with its tags and sources."""
    return await contacts.to_view(session, contact=await contacts.get_contact(session, contact_id=contact_id))


@router.put("/{contact_id}", response_model=ContactStaffView, responses=error_responses(404, 409))
async def update_contact(
    contact_id: IdPath, body: ContactUpdate, _editor: CanWrite, session: WriteSession, settings: SettingsDep
) -> ContactStaffView:
    """Change a contact; `tags` replaces the list. Status `pending` mails the opt-in link; an unsubscribed
    contact cannot be set `subscribed` by staff (409 INVALID_TRANSITION): only their own confirmation does that."""
    return await contacts.update_contact(session, settings=settings, contact_id=contact_id, data=body)


@router.delete("/{contact_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404))
async def erase_contact(contact_id: IdPath, _admin: CanDelete, session: WriteSession, settings: SettingsDep) -> None:
    """Erase a contact (admins): personal data removed, the address kept only as a suppression digest
    so no later lead, import or staff create adds it again."""
    await contacts.erase_contact(session, settings=settings, contact_id=contact_id)
