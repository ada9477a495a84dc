"""DELETE /contacts/{id} is erasure: the person is gone, the address lives on only as a keyed digest."""

from datetime import timedelta

import pytest
from sqlmodel import select

from features.email import erasure
from features.email.contacts import erase_contact, suppression_digest
from features.email.erasure import COMPACT_ERASED_ROWS_JOB, ERASED_FROM
from features.email.models import CampaignRecipient, Contact, ContactSource, ContactTag, Suppression
from shared.db import holds_write_lock, utcnow
from shared.jobs import JobRunner, JobSchedule
from shared.mail import OutgoingMail
from shared.security import keyed_digest
from tests.engines import ON_POSTGRES, outside_the_app
from tests.factories import erased_database_bytes, job_context

from .factories import CONTACTS, campaign_recipient, opt_in_mails, stored_contact, visitor


async def test_erasure_removes_the_person_and_keeps_only_the_digest(app, client, create_contact, admin_headers,
                                                                   smtp_server):
    # SMTP is down: the opt-in mail is still in the outbox when the contact is erased. Someone else was
    # added first, so the erased rows are not alone in their pages (a table left empty is truncated).
    stays = await create_contact("stays@example.com", first_name="Sam", tags=["vip"])
    contact = await create_contact("Erase.Me@Example.com", first_name="Eve", tags=["vip"])
    recipient_id = await campaign_recipient(app, contact["id"])
    response = await client.delete(f"{CONTACTS}/{contact['id']}", headers=admin_headers)
    assert response.status_code == 204 and response.content == b""

    async with app.state.db.session(write=False) as session:
        assert await stored_contact(app, "erase.me@example.com") is None
        assert {tag.contact_id for tag in (await session.exec(select(ContactTag))).all()} == {stays["id"]}
        assert {source.contact_id for source in (await session.exec(select(ContactSource))).all()} == {stays["id"]}
        recipient = await session.get(CampaignRecipient, recipient_id)
        assert recipient.contact_id is None and recipient.status == "sent"  # the counters still add up
        [suppression] = (await session.exec(select(Suppression))).all()
        queued = (await session.exec(select(OutgoingMail))).all()
        assert [mail.recipient for mail in queued] == ["stays@example.com"]  # the erased one's opt-in mail is gone
    secret = app.state.settings.secret_key.get_secret_value()
    assert suppression.digest == keyed_digest("erase.me@example.com", purpose="email-suppression", secret=secret)
    assert suppression.reason == "erased"

    # Nowhere in the database is the address, in any case.
    await app.state.db.dispose()
    stored = erased_database_bytes(app.state.settings).lower()
    assert b"erase.me@example.com" not in stored and b"stays@example.com" in stored


async def test_erasure_removes_the_mail_already_sent_to_the_person_too(app, client, create_contact, admin_headers,
                                                                       mailbox):
    contact = await create_contact("sent.to@example.com")  # pending: the opt-in mail goes out at once
    assert len(opt_in_mails(mailbox, "sent.to@example.com")) == 1
    assert (await client.delete(f"{CONTACTS}/{contact['id']}", headers=admin_headers)).status_code == 204
    async with app.state.db.session(write=False) as session:
        assert (await session.exec(select(OutgoingMail))).all() == []  # not even as a record of what was sent
    await app.state.db.dispose()
    assert b"sent.to@example.com" not in erased_database_bytes(app.state.settings).lower()


async def test_an_erased_address_never_comes_back(app, client, create_contact, admin_headers, editor_headers,
                                                  webinar, mailbox, upload_csv):
    contact = await create_contact("gone@example.com", status="subscribed")
    await client.delete(f"{CONTACTS}/{contact['id']}", headers=admin_headers)

    staff = await client.post(CONTACTS, json={"email": "GONE@example.com"}, headers=editor_headers)
    assert staff.status_code == 409 and staff.json()["error"]["code"] == "EMAIL_SUPPRESSED"

    url = await webinar()
    assert (await client.post(url, json=visitor("gone@example.com"))).status_code == 201  # the registration stands
    assert (await client.post(await webinar("two"), json=visitor("gone@example.com", consent_marketing=False))).status_code == 201
    assert await stored_contact(app, "gone@example.com") is None
    assert opt_in_mails(mailbox, "gone@example.com") == []

    report = (await upload_csv("email\nGone@Example.com\nnew@example.com\n")).json()
    assert report["imported"] == 1 and report["rejected"] == [
        {"row": 2, "reason": "email: the address belonged to an erased contact"}
    ]
    assert await stored_contact(app, "gone@example.com") is None
    async with app.state.db.session(write=False) as session:
        assert len((await session.exec(select(Suppression))).all()) == 1


async def test_an_erased_contacts_id_is_never_given_to_someone_else(app, client, create_contact, admin_headers):
    first = await create_contact("first@example.com")
    await client.delete(f"{CONTACTS}/{first['id']}", headers=admin_headers)
    second = await create_contact("second@example.com")
    assert second["id"] != first["id"]  # an old link for the first person can never act on the second


async def test_erasing_an_unknown_contact_is_404(client, admin_headers):
    assert (await client.delete(f"{CONTACTS}/424242", headers=admin_headers)).status_code == 404


def test_the_digest_is_keyed_and_of_the_normalized_address(settings):
    assert suppression_digest(settings, " A@Example.com ") == suppression_digest(settings, "a@example.com")
    other = settings.model_copy(update={"secret_key": type(settings.secret_key)("x" * 40)})
    assert suppression_digest(other, "a@example.com") != suppression_digest(settings, "a@example.com")


@pytest.fixture
def compactions(app, monkeypatch):
    """Each compaction the app runs, as (tables, whether the erasure was committed by then, whether
    the running task held a write transaction), recorded before the real compaction goes on."""
    seen = []
    compact = erasure.compact_tables

    async def watched(database, *, tables):
        in_a_write_transaction = holds_write_lock()
        async with app.state.db.session(write=False) as session:  # another transaction: what is committed
            committed = (await session.exec(select(Contact))).all() == []
        seen.append((tables, committed, in_a_write_transaction))
        await compact(database, tables=tables)

    monkeypatch.setattr(erasure, "compact_tables", watched)
    return seen


def table_files(app) -> list[tuple[str, int]]:
    """Each erased-from table's file on PostgreSQL (VACUUM (FULL) gives it a new one)."""
    names = ", ".join(f"'{name}'" for name in ERASED_FROM)
    [rows] = outside_the_app(app.state.settings.database_url,
                             f"SELECT relname, relfilenode FROM pg_class WHERE relname IN ({names}) ORDER BY relname")
    return rows


async def compaction_schedule(app) -> JobSchedule | None:
    async with app.state.db.session(write=False) as session:
        return await session.get(JobSchedule, COMPACT_ERASED_ROWS_JOB.name)


async def test_an_erasure_compacts_its_tables_after_the_response_outside_any_transaction(
    app, client, create_contact, admin_headers, compactions
):
    contact = await create_contact("gone@example.com")
    files = table_files(app) if ON_POSTGRES else []
    assert (await client.delete(f"{CONTACTS}/{contact['id']}", headers=admin_headers)).status_code == 204

    assert compactions == [(ERASED_FROM, True, False)]  # once, after the commit, in no write transaction
    schedule = await compaction_schedule(app)
    assert schedule.last_finished_at is not None and schedule.last_error is None and schedule.locked_by is None
    assert schedule.next_run_at > utcnow()  # done: a worker does not run it again
    if ON_POSTGRES:  # every table written anew (a VACUUM in a transaction block would have failed)
        assert all(old != new for (_, old), (_, new) in zip(files, table_files(app), strict=True))


async def test_a_rolled_back_erasure_compacts_nothing(app, create_contact, compactions):
    contact = await create_contact("kept@example.com")
    handed_on = []
    with pytest.raises(RuntimeError):
        async with app.state.db.handing_on_to(handed_on.append).session() as session:
            await erase_contact(session, settings=app.state.settings, contact_id=contact["id"])
            raise RuntimeError("the request failed after the erasure")
    assert handed_on == [] and compactions == []
    assert await compaction_schedule(app) is None  # nothing asks a worker either
    async with app.state.db.session(write=False) as session:
        assert await session.get(Contact, contact["id"]) is not None


async def test_a_committed_erasure_is_compacted_by_a_worker_if_its_process_stopped_first(
    app, create_contact, compactions
):
    contact = await create_contact("gone@example.com")
    runner = JobRunner(job_context(app), [COMPACT_ERASED_ROWS_JOB], mode="standalone")
    assert await runner.run_due_jobs() == [COMPACT_ERASED_ROWS_JOB.name]  # a new job runs once at once
    assert await runner.run_due_jobs() == []  # then not for a week
    compactions.clear()
    async with app.state.db.session() as session:  # no request to run it after a response
        await erase_contact(session, settings=app.state.settings, contact_id=contact["id"])
    assert compactions == []
    assert await runner.run_due_jobs() == [COMPACT_ERASED_ROWS_JOB.name]  # the erasure made it due
    assert compactions == [(ERASED_FROM, True, False)]
    assert await runner.run_due_jobs() == []


@pytest.mark.postgres_only
async def test_a_compaction_held_up_by_an_older_transaction_is_tried_again_ten_minutes_later(
    app, create_contact, monkeypatch
):
    from sqlalchemy import text

    import shared.db

    monkeypatch.setattr(shared.db, "COMPACTION_WAIT_SECONDS", 0.2)
    contact = await create_contact("held.up@example.com")
    runner = JobRunner(job_context(app), [COMPACT_ERASED_ROWS_JOB], mode="standalone")
    async with app.state.db.engine.connect() as connection:
        older = await connection.execution_options(isolation_level="REPEATABLE READ")
        await older.execute(text("SELECT count(*) FROM job_schedules"))  # a long backup's snapshot, say
        async with app.state.db.session() as session:
            await erase_contact(session, settings=app.state.settings, contact_id=contact["id"])
        assert await runner.run_due_jobs() == [COMPACT_ERASED_ROWS_JOB.name]
        await older.commit()
    schedule = await compaction_schedule(app)
    assert schedule.last_error is None
    assert timedelta(minutes=9) < schedule.next_run_at - schedule.last_finished_at < timedelta(minutes=11)
