"""Campaign templates over HTTP: CRUD and roles, languages, the checks on save (syntax, unknown
variables, the sandbox), escaping, the derived text part, preview, and deletion while in use."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from features.email.models import Campaign
from features.email.sender import send_campaigns
from features.email.tests.campaign_helpers import BASE, TEMPLATE, seed_contacts
from shared.db import utcnow
from shared.jobs import JobContext

TEMPLATES = f"{BASE}/templates"


def _error(response, status: int = 422) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    return body["error"]


async def _create(client, headers, **overrides):
    return await client.post(TEMPLATES, json={**TEMPLATE, **overrides}, headers=headers)


async def _preview(client, headers, template_id, **body):
    return await client.post(f"{TEMPLATES}/{template_id}/preview", json=body, headers=headers)


# --- CRUD and roles ----------------------------------------------------------------------------


async def test_a_template_is_created_read_listed_changed_and_deleted(client, editor_headers, admin_headers):
    created = await _create(client, editor_headers)
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["name"] == "Newsletter" and template["subject"] == TEMPLATE["subject"]
    assert template["html_body"] == TEMPLATE["html_body"] and template["text_body"] is None
    assert template["created_at"] and template["updated_at"]

    assert (await client.get(f"{TEMPLATES}/{template['id']}", headers=editor_headers)).json() == template
    listed = (await client.get(TEMPLATES, headers=editor_headers)).json()
    assert listed["total"] == 1 and [t["id"] for t in listed["items"]] == [template["id"]]

    changed = await client.put(
        f"{TEMPLATES}/{template['id']}", json={"name": "May", "subject": {"en": "Hi {{ contact.first_name }}",
                                                                           "de": "Hallo"}},
        headers=editor_headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "May" and changed.json()["subject"]["en"] == "Hi {{ contact.first_name }}"
    assert changed.json()["html_body"] == TEMPLATE["html_body"]  # untouched parts stay
    preview = (await _preview(client, editor_headers, template["id"])).json()
    assert preview["subject"] == "Hi Ada"  # the change is what renders, not a cached older version

    assert (await client.delete(f"{TEMPLATES}/{template['id']}", headers=admin_headers)).status_code == 204
    assert _error(await client.get(f"{TEMPLATES}/{template['id']}", headers=editor_headers), 404)["code"] == "NOT_FOUND"


async def test_viewers_read_editors_write_and_only_admins_delete(client, viewer_headers, editor_headers, admin_headers):
    template = (await _create(client, editor_headers)).json()
    path = f"{TEMPLATES}/{template['id']}"
    assert (await client.get(TEMPLATES, headers=viewer_headers)).status_code == 200
    assert (await client.get(path, headers=viewer_headers)).status_code == 200
    assert (await _preview(client, viewer_headers, template["id"])).status_code == 200

    assert _error(await _create(client, viewer_headers), 403)["code"] == "INSUFFICIENT_PERMISSIONS"
    assert _error(await client.put(path, json={"name": "x"}, headers=viewer_headers), 403)["code"] == (
        "INSUFFICIENT_PERMISSIONS"
    )
    assert _error(await client.delete(path, headers=editor_headers), 403)["code"] == "INSUFFICIENT_PERMISSIONS"
    assert _error(await client.get(TEMPLATES), 401)["code"] == "AUTHENTICATION_REQUIRED"
    assert (await client.delete(path, headers=admin_headers)).status_code == 204


async def test_the_list_searches_names_and_sorts(client, editor_headers, create_template):
    for name in ("Beta", "Alpha news", "Gamma news"):
        await create_template(name=name)
    names = [t["name"] for t in (await client.get(TEMPLATES, headers=editor_headers)).json()["items"]]
    assert names == sorted(names)  # by name unless asked otherwise
    found = (await client.get(TEMPLATES, params={"q": "NEWS", "sort": "-name"}, headers=editor_headers)).json()
    assert found["total"] == 2 and [t["name"] for t in found["items"]] == ["Gamma news", "Alpha news"]


# --- languages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subject": {"de": "Hallo"}, "html_body": {"de": "<p>Hallo</p>"}}, "subject.en"),
        ({"subject": {"en": "  ", "de": "Hallo"}}, "subject.en"),
        ({"html_body": {"de": "<p>Hallo</p>"}, "subject": {"de": "Hallo"}}, "subject.en"),
        ({"subject": {"en": "Hi", "fr": "Salut"}}, "subject.fr"),
        ({"html_body": {"en": "<p>Hi</p>", "fr": "<p>Salut</p>"}}, "html_body.fr"),
        ({"text_body": {"en": "Hi", "fr": "Salut"}}, "text_body.fr"),
        ({"subject": {"en": "Hi"}}, "subject"),  # html_body has de too: the languages do not match
        ({"subject": {"en": "Hi"}, "html_body": {"en": "<p>Hi</p>"}, "text_body": {"de": "Hallo"}}, "text_body"),
    ],
)
async def test_languages_must_include_the_default_be_supported_and_match(client, editor_headers, overrides, field):
    error = _error(await _create(client, editor_headers, **overrides))
    assert error["code"] == "VALIDATION_ERROR" and error["field"] == field


async def test_a_change_is_checked_like_a_new_template(client, editor_headers, create_template):
    template = await create_template()
    path = f"{TEMPLATES}/{template['id']}"
    error = _error(await client.put(path, json={"subject": {"en": "Hi", "de": "Hallo", "fr": "Salut"}},
                                    headers=editor_headers))
    assert error["field"] == "subject.fr"
    error = _error(await client.put(path, json={"html_body": {"en": "<p>{{ contact.password }}</p>"}},
                                    headers=editor_headers))
    assert error["field"] == "subject"  # de would be left with a subject and no body
    error = _error(await client.put(path, json={"html_body": {"en": "<p>{{ oops</p>", "de": "<p>x</p>"}},
                                    headers=editor_headers))
    assert error["field"] == "html_body.en"


@pytest.mark.parametrize("part", ["subject", "html_body"])
async def test_a_change_cannot_empty_a_required_part(client, editor_headers, create_template, part):
    template = await create_template()
    error = _error(await client.put(f"{TEMPLATES}/{template['id']}", json={part: {}}, headers=editor_headers))
    assert error["code"] == "VALIDATION_ERROR" and error["field"] == f"{part}.en"


# --- checks on save ----------------------------------------------------------------------------


async def test_a_syntax_error_is_refused_naming_part_language_and_line(client, editor_headers):
    body = {"en": TEMPLATE["html_body"]["en"], "de": "<p>Hallo</p>\n<p>\n{% if contact.first_name %}</p>"}
    error = _error(await _create(client, editor_headers, html_body=body))
    assert error["code"] == "VALIDATION_ERROR" and error["field"] == "html_body.de"
    assert "line 3" in error["message"]
    error = _error(await _create(client, editor_headers, subject={"en": "Hi {{ contact.first_name", "de": "x"}))
    assert error["field"] == "subject.en" and "line 1" in error["message"]


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("<p>Hi</p>\n<p>{{ foo }}</p>", "foo"),
        ("<p>Hi</p>\n<p>{{ contact.password }}</p>", "password"),
        ("<p>Hi</p>\n{% if contact.company %}{{ campaign.owner }}{% endif %}", "owner"),
    ],
)
async def test_an_unknown_variable_is_refused_naming_it_and_its_line(client, editor_headers, source, named):
    error = _error(await _create(client, editor_headers, html_body={"en": source, "de": "<p>x</p>"}))
    assert error["field"] == "html_body.en" and "line 2" in error["message"] and named in error["message"]


ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ contact.__class__ }}",
    "{{ contact['__class__'] }}",
    "{{ self.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ lipsum.__globals__ }}",
    "{{ joiner }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{% endfor %}",
    "{{ config }}",
    "{{ request }}",
    "{{ 'a' * 1000000000 }}",
    "{{ 10 ** 100000000 }}",
    "{{ range(10**9)|length }}",
    "{% macro m() %}{% endmacro %}",
    "{% include 'x.html' %}",
    "{% import 'x.html' as x %}",
    "{% from 'x.html' import y %}",
    "{% extends 'x.html' %}",
    "{% block b %}{% endblock %}",
    "{% for a in range(2) %}{% for b in range(2) %}{% for c in range(2) %}{% endfor %}{% endfor %}{% endfor %}",
    "{% for c in 'ab' recursive %}{{ loop(c) }}{% endfor %}",
    "{{ 'x'|center(10**9) }}",
    "{{ contact.first_name|safe }}",
    "{% autoescape false %}{{ contact.first_name }}{% endautoescape %}",
    '{{ ("a"*100000)|replace("", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb") }}',
    "{% set s = 'a' * 100000 %}{% for i in range(1000) %}{% for j in range(1000) %}{{ s }}{% endfor %}{% endfor %}",
    "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}",
    "{{ 'a'.ljust(1000000000) }}",
    "{{ '%1000000000s' % 'a' }}",
    "{% set l = [1] %}{{ l.extend(l) }}",
    "{{ ('a' * 100000)|join('b' * 100000) }}",
    "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
]


@pytest.mark.parametrize("source", ESCAPES)
async def test_sandbox_escapes_and_unbounded_renders_are_refused_with_422(client, editor_headers, source):
    error = _error(await _create(client, editor_headers, html_body={"en": "<p>Hi</p>\n" + source, "de": "<p>x</p>"}))
    assert error["code"] == "VALIDATION_ERROR" and error["field"] == "html_body.en"


async def test_conditions_and_loops_two_deep_are_fine(client, editor_headers):
    source = (
        "<p>Hello {{ contact.first_name|default('there') }}</p>\n"
        "{% if contact.company %}<p>from {{ contact.company|upper }}</p>{% endif %}\n"
        "{% for i in range(3) %}{% for j in range(2) %}{{ i * j }}{% if not loop.last %},{% endif %}"
        "{% endfor %};{% endfor %}\n"
        "{% set greeting = 'Hi ' ~ contact.first_name %}<p>{{ greeting }}</p>\n"
        '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
    )
    created = await _create(client, editor_headers, html_body={"en": source, "de": "<p>x</p>"})
    assert created.status_code == 201, created.text
    html = (await _preview(client, editor_headers, created.json()["id"])).json()["html"]
    assert "from ANALYTICAL ENGINES" in html and "0,0;0,1;0,2;" in html and "Hi Ada" in html
    without_company = await _preview(
        client, editor_headers, created.json()["id"], data={"contact": {"company": ""}}
    )
    assert "from" not in without_company.json()["html"]


# --- escaping and the text part ----------------------------------------------------------------


async def test_html_is_escaped_while_text_and_subject_are_not(client, editor_headers, create_template):
    template = await create_template(
        subject={"en": "Hi {{ contact.first_name }}", "de": "Hallo"},
        html_body={"en": "<p>Hi {{ contact.first_name }}</p>", "de": "<p>Hallo</p>"},
    )
    rendered = (await _preview(client, editor_headers, template["id"],
                               data={"contact": {"first_name": "<script>x</script>"}})).json()
    assert "<script>" not in rendered["html"] and "&lt;script&gt;x&lt;/script&gt;" in rendered["html"]
    assert rendered["subject"] == "Hi <script>x</script>"
    assert "Hi <script>x</script>" in rendered["text"]


async def test_the_text_part_is_derived_from_the_html_with_links_shown(client, editor_headers, create_template):
    template = await create_template()
    text = (await _preview(client, editor_headers, template["id"])).json()["text"]
    assert "Hello Ada," in text
    assert "[Read](https://example.com/read?a=1&b=2)" in text
    assert "[Unsubscribe](https://example.com/unsubscribe/sample)" in text
    assert "<p>" not in text


async def test_an_explicit_text_part_is_used_as_written(client, editor_headers, create_template):
    template = await create_template(text_body={"en": "Plain for {{ contact.first_name }}: {{ unsubscribe_url }}"})
    assert (await _preview(client, editor_headers, template["id"])).json()["text"] == (
        "Plain for Ada: https://example.com/unsubscribe/sample"
    )
    german = (await _preview(client, editor_headers, template["id"], language="de")).json()["text"]
    assert "Hallo Ada," in german  # de has no text part: derived from its HTML


async def test_html_text_that_looks_like_a_template_stays_text_in_the_derived_part(
    client, editor_headers, create_template
):
    # &#123; is "{": the HTML shows the braces as text, and so must the text part, which is
    # itself a template: evaluated there, this would run code no check on save has seen.
    braces = "<p>&#123;&#123; 7 * 7 &#125;&#125; &#123;&#123; lipsum &#125;&#125; {{ contact.first_name }}</p>"
    template = await create_template(html_body={"en": braces, "de": "<p>x</p>"})
    rendered = await _preview(client, editor_headers, template["id"])
    assert rendered.status_code == 200, rendered.text
    assert "{{ 7 * 7 }} {{ lipsum }} Ada" in rendered.json()["text"]


# --- preview -----------------------------------------------------------------------------------


async def test_preview_renders_the_sample_contact_in_the_default_language(client, viewer_headers, create_template):
    template = await create_template()
    preview = await _preview(client, viewer_headers, template["id"])
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["subject"] == "News for Ada" and "<p>Hello Ada,</p>" in body["html"]
    assert 'href="https://example.com/unsubscribe/sample"' in body["html"]


async def test_preview_renders_the_language_asked_for(client, editor_headers, create_template):
    template = await create_template()
    body = (await _preview(client, editor_headers, template["id"], language="de")).json()
    assert body["subject"] == "Neues für Ada" and "<p>Hallo Ada,</p>" in body["html"]


async def test_preview_data_overrides_the_sample(client, editor_headers, create_template):
    template = await create_template(
        subject={"en": "{{ campaign.name }} for {{ contact.first_name }} {{ contact.last_name }}", "de": "x"}
    )
    body = (await _preview(client, editor_headers, template["id"], data={
        "contact": {"first_name": "Grace"}, "campaign": {"name": "June"}, "unsubscribe_url": "https://u.example/x",
    })).json()
    assert body["subject"] == "June for Grace Lovelace"  # what is not given stays the sample's
    assert 'href="https://u.example/x"' in body["html"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"password": "x"}, "data.password"),
        ({"contact": {"password": "x"}}, "data.contact.password"),
        ({"contact": "Ada"}, "data.contact"),
        ({"contact": {"first_name": {"nested": 1}}}, "data.contact.first_name"),
        ({"contact": {"first_name": "x" * 501}}, "data.contact.first_name"),
    ],
)
async def test_preview_refuses_data_a_template_cannot_have(client, editor_headers, create_template, data, field):
    template = await create_template()
    error = _error(await _preview(client, editor_headers, template["id"], data=data))
    assert error["code"] == "VALIDATION_ERROR" and error["field"] == field


async def test_preview_refuses_a_language_the_template_lacks(client, editor_headers, create_template):
    template = await create_template(subject={"en": "Hi"}, html_body={"en": "<p>Hi</p>"})
    error = _error(await _preview(client, editor_headers, template["id"], language="de"))
    assert error["field"] == "language"
    assert _error(await _preview(client, editor_headers, 999), 404)["code"] == "NOT_FOUND"


async def test_preview_data_that_breaks_a_render_is_a_422_naming_the_line(client, editor_headers, create_template):
    # The sample renders (the template saves); a name one letter longer divides by zero.
    template = await create_template(
        html_body={"en": "<p>Hi</p>\n<p>{{ 10 // (contact.first_name|length - 4) }}</p>", "de": "<p>x</p>"}
    )
    error = _error(await _preview(client, editor_headers, template["id"], data={"contact": {"first_name": "Adam"}}))
    assert error["code"] == "VALIDATION_ERROR" and error["field"] == "html_body.en" and "line 2" in error["message"]


# --- deletion while in use ---------------------------------------------------------------------


async def _campaign_in(app, client, editor_headers, create_campaign, template_id, status):
    """A campaign of `template_id` brought to `status` the way staff and the worker bring it there."""
    if status == "scheduled":
        campaign = await create_campaign(template_id=template_id, scheduled_at=(utcnow() + timedelta(days=1)).isoformat())
    else:
        campaign = await create_campaign(template_id=template_id)
    path = f"{BASE}/campaigns/{campaign['id']}"
    if status in ("scheduled", "sending", "paused", "cancelled"):
        assert (await client.post(f"{path}/send", headers=editor_headers)).status_code == 202
    if status == "paused":
        assert (await client.post(f"{path}/pause", headers=editor_headers)).status_code == 200
    if status == "cancelled":
        assert (await client.post(f"{path}/cancel", headers=editor_headers)).status_code == 200
    if status == "sent":
        async with app.state.db.session() as session:  # a finished send, without the mail
            await session.exec(update(Campaign).where(Campaign.id == campaign["id"]).values(status="sent"))
    if status == "failed":  # scheduled, then found two hours late by the worker
        await client.put(path, json={"scheduled_at": (utcnow() + timedelta(minutes=1)).isoformat()},
                         headers=editor_headers)
        assert (await client.post(f"{path}/send", headers=editor_headers)).json()["status"] == "scheduled"
        context = JobContext(database=app.state.db, settings=app.state.settings, mailer=app.state.mailer,
                             clock=lambda: utcnow() + timedelta(hours=2))
        await send_campaigns(context)
    found = (await client.get(path, headers=editor_headers)).json()
    assert found["status"] == status
    return found


@pytest.mark.parametrize("status", ["draft", "scheduled", "sending", "paused"])
async def test_a_template_an_unfinished_campaign_uses_cannot_be_deleted(
    app, client, editor_headers, admin_headers, create_template, create_campaign, status
):
    await seed_contacts(app, 2)  # so that starting leaves the campaign sending, not sent at once
    template = await create_template()
    await _campaign_in(app, client, editor_headers, create_campaign, template["id"], status)
    error = _error(await client.delete(f"{TEMPLATES}/{template['id']}", headers=admin_headers), 409)
    assert error["code"] == "IN_USE"
    assert (await client.get(f"{TEMPLATES}/{template['id']}", headers=editor_headers)).status_code == 200


@pytest.mark.parametrize("status", ["sent", "cancelled", "failed"])
async def test_a_template_only_finished_campaigns_use_can_be_deleted(
    app, client, editor_headers, admin_headers, create_template, create_campaign, status
):
    await seed_contacts(app, 2)
    template = await create_template()
    campaign = await _campaign_in(app, client, editor_headers, create_campaign, template["id"], status)
    assert (await client.delete(f"{TEMPLATES}/{template['id']}", headers=admin_headers)).status_code == 204
    kept = (await client.get(f"{BASE}/campaigns/{campaign['id']}", headers=editor_headers)).json()
    assert kept["template_id"] is None and kept["status"] == status and kept["stats"] == campaign["stats"]
