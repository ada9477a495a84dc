"""Campaign templates: staff write them, every save is checked, a preview renders one."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from features.email.errors import TemplateInUse
from features.email.models import Campaign, EmailTemplate
from features.email.rendering import (
    SAMPLE,
    VARIABLES,
    RenderedMail,
    RenderFailed,
    check_template,
    compiled_template,
)
from features.email.schemas import PreviewRequest, TemplateCreate, TemplateUpdate
from shared.config import Settings
from shared.db import utcnow
from shared.errors import NotFound, ValidationFailed
from shared.i18n import check_localized
from shared.pagination import ListParams, paginate, sort_order, text_contains

FINISHED = ("sent", "cancelled", "failed")
SORT_COLUMNS = {
    "name": EmailTemplate.name, "created_at": EmailTemplate.created_at, "updated_at": EmailTemplate.updated_at,
}
MAX_PREVIEW_VALUE = 500


def _check(
    settings: Settings, subject: dict[str, str], html_body: dict[str, str], text_body: dict[str, str] | None
) -> None:
    check_localized(subject, field="subject", settings=settings, required=True)
    check_localized(html_body, field="html_body", settings=settings, required=True)
    check_localized(text_body, field="text_body", settings=settings, required=False)
    if missing := sorted(set(subject) ^ set(html_body)):
        raise ValidationFailed(
            f"subject and html_body need the same languages; only one has {', '.join(missing)}", field="subject"
        )
    if extra := sorted(set(text_body or {}) - set(html_body)):
        raise ValidationFailed(f"text_body has languages html_body lacks: {', '.join(extra)}", field="text_body")
    check_template(subject=subject, html_body=html_body, text_body=text_body)


async def create_template(
    session: AsyncSession, *, settings: Settings, data: TemplateCreate, created_by: int | None
) -> EmailTemplate:
    _check(settings, data.subject, data.html_body, data.text_body)
    template = EmailTemplate(
        name=data.name, subject=data.subject, html_body=data.html_body, text_body=data.text_body, created_by=created_by
    )
    session.add(template)
    await session.flush()
    return template


async def get_template(session: AsyncSession, *, template_id: int) -> EmailTemplate:
    template = await session.get(EmailTemplate, template_id)
    if template is None:
        raise NotFound("Template not found")
    return template


async def list_templates(
    session: AsyncSession, *, params: ListParams, q: str | None = None, sort: str | None = None
) -> tuple[list[EmailTemplate], int]:
    statement = select(EmailTemplate)
    if q:
        statement = statement.where(text_contains(EmailTemplate.name, q))
    order = sort_order(sort, SORT_COLUMNS, [col(EmailTemplate.name), col(EmailTemplate.id)])
    return await paginate(session, statement=statement, params=params, order_by=order)


async def update_template(
    session: AsyncSession, *, settings: Settings, template_id: int, data: TemplateUpdate
) -> EmailTemplate:
    template = await get_template(session, template_id=template_id)
    changes = data.model_dump(exclude_unset=True)
    # Given parts are checked as given: an empty one is refused, not taken as "unchanged".
    subject = template.subject if changes.get("subject") is None else changes["subject"]
    html_body = template.html_body if changes.get("html_body") is None else changes["html_body"]
    text_body = changes.get("text_body", template.text_body)
    _check(settings, subject, html_body, text_body)
    if data.name is not None:
        template.name = data.name
    template.subject, template.html_body, template.text_body = subject, html_body, text_body
    template.updated_at = utcnow()  # also what the compiled-template cache keys on
    session.add(template)
    await session.flush()
    return template


async def delete_template(session: AsyncSession, *, template_id: int) -> None:
    template = await get_template(session, template_id=template_id)
    in_use = await session.exec(
        select(func.count()).select_from(Campaign)
        .where(Campaign.template_id == template_id, col(Campaign.status).not_in(FINISHED))
    )
    if in_use.one():
        raise TemplateInUse()
    await session.delete(template)


def _preview_values(data: dict[str, Any] | None) -> dict[str, Any]:
    """The sample variables with the caller's values over them; only names a template may use."""
    values = {name: dict(value) if isinstance(value, dict) else value for name, value in SAMPLE.items()}
    for name, given in (data or {}).items():
        if name not in VARIABLES:
            raise ValidationFailed(f"unknown variable '{name}'; use {', '.join(VARIABLES)}", field=f"data.{name}")
        allowed = VARIABLES[name]
        if allowed is None:
            values[name] = _preview_text(given, f"data.{name}")
            continue
        if not isinstance(given, dict):
            raise ValidationFailed(f"{name} must be an object", field=f"data.{name}")
        for attribute, value in given.items():
            if attribute not in allowed:
                raise ValidationFailed(f"'{name}' has no attribute '{attribute}'", field=f"data.{name}.{attribute}")
            values[name][attribute] = _preview_text(value, f"data.{name}.{attribute}")
    return values


def _preview_text(value: Any, field: str) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool) or len(str(value)) > MAX_PREVIEW_VALUE:
        raise ValidationFailed(f"must be text of at most {MAX_PREVIEW_VALUE} characters", field=field)
    return str(value)


async def preview_template(
    session: AsyncSession, *, settings: Settings, template_id: int, data: PreviewRequest
) -> RenderedMail:
    template = await get_template(session, template_id=template_id)
    compiled = compiled_template(template)
    if data.language is not None and data.language not in compiled.languages:
        raise ValidationFailed(
            f"the template has no text in '{data.language}'; it has {', '.join(sorted(compiled.languages))}",
            field="language",
        )
    language = data.language or compiled.language_for(None, settings)
    try:
        return compiled.render(language, _preview_values(data.data))
    except RenderFailed as failed:  # data the check on save did not try
        raise failed.refusal() from None
