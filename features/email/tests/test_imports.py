"""CSV import: a report of imported, updated and rejected rows; bad rows never stop good ones."""

import time

from sqlalchemy import func, update
from sqlmodel import select

from features.email import imports
from features.email.models import Contact, ContactSource, ContactTag
from shared.mail import OutgoingMail

from .factories import CONTACTS, opt_in_mails, sources_of, stored_contact, tags_of, visitor

GOOD_AND_BAD = (
    "\ufeffEmail,First_Name,last_name,company,language,tags,notes\n"  # a BOM, any case, an unknown column
    "ada@example.com,Ada,Lovelace,Engines,de,vip; customer ;vip,ignored\n"
    "not-an-address,X,Y,,,,\n"
    "bob@example.com,Bob,,,fr,,\n"
    f"carl@example.com,{'C' * 101},,,,,\n"
    "\n"
    "ADA@example.com,Again,,,,,\n"
    '"multi@example.com","Multi\nLine",,,,,\n'
    "dora@example.com,Dora,,,EN,,\n"
    ",,,,,,\n"
)


async def test_good_rows_are_imported_and_each_bad_one_reported_with_its_line(app, upload_csv, mailbox):
    response = await upload_csv(GOOD_AND_BAD, status="subscribed")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["imported"] == 2 and report["updated"] == 0 and report["rejected_count"] == 5
    assert [(r["row"], r["reason"].split(":")[0]) for r in report["rejected"]] == [
        (3, "email"), (4, "language"), (5, "first_name"), (7, "email"), (8, "first_name"),
    ]  # blank lines and rows of empty cells are no rows
    assert report["rejected"][3]["reason"] == "email: a duplicate of line 2"
    assert "not-an-address" not in response.text and "Multi" not in response.text  # lines and reasons, no content
    ada = await stored_contact(app, "ada@example.com")
    assert (ada.first_name, ada.last_name, ada.company, ada.language) == ("Ada", "Lovelace", "Engines", "de")
    assert ada.status == "subscribed" and ada.consent_origin == "import" and ada.consent_at is not None
    assert await tags_of(app, ada.id) == {"vip", "customer"} and await sources_of(app, ada.id) == {"import"}
    assert (await stored_contact(app, "dora@example.com")).language == "en"
    assert mailbox.messages == []


async def test_a_pending_import_queues_one_opt_in_mail_per_new_contact(app, upload_csv, mailbox):
    from shared.mail import deliver_due_mail

    report = (await upload_csv("email,language\na@example.com,de\nb@example.com,\n", status="pending")).json()
    assert report["imported"] == 2
    # Delivered by the time the import answered (each batch's commit hands delivery on): nothing is left.
    assert await deliver_due_mail(app.state.db, app.state.mailer) == 0
    [german] = opt_in_mails(mailbox, "a@example.com")
    assert german["Content-Language"] == "de" and len(opt_in_mails(mailbox, "b@example.com")) == 1
    assert (await stored_contact(app, "a@example.com")).status == "pending"


async def test_known_contacts_are_filled_in_without_resubscribing_anyone(app, client, upload_csv, create_contact,
                                                                        webinar, mailbox):
    await create_contact("named@example.com", first_name="Kept", tags=["old"], status="subscribed")
    await create_contact("out@example.com", status="subscribed")
    await create_contact("bounced@example.com", status="subscribed")
    async with app.state.db.session() as session:
        await session.exec(update(Contact).where(Contact.email == "out@example.com").values(status="unsubscribed"))
        await session.exec(update(Contact).where(Contact.email == "bounced@example.com").values(status="bounced"))
    await client.post(await webinar(), json=visitor("lead@example.com", consent_marketing=False))
    mails_before = len(mailbox.messages)

    csv = ("email,first_name,last_name,tags\nnamed@example.com,New,Last,new\nout@example.com,O,,\n"
           "bounced@example.com,B,,\nlead@example.com,L,,\nfresh@example.com,F,,\n")
    report = (await upload_csv(csv, status="pending")).json()
    assert (report["imported"], report["updated"], report["rejected"]) == (1, 4, [])

    named = await stored_contact(app, "named@example.com")
    assert (named.first_name, named.last_name, named.status) == ("Kept", "Last", "subscribed")
    assert await tags_of(app, named.id) == {"old", "new"} and await sources_of(app, named.id) == {"staff", "import"}
    assert (await stored_contact(app, "out@example.com")).status == "unsubscribed"
    assert (await stored_contact(app, "bounced@example.com")).status == "bounced"
    lead = await stored_contact(app, "lead@example.com")
    assert lead.status == "pending" and lead.first_name == "Grace"  # asked now: it had not consented before
    from shared.mail import deliver_due_mail

    await deliver_due_mail(app.state.db, app.state.mailer)
    assert {m["To"] for m in mailbox.messages[mails_before:]} == {"lead@example.com", "fresh@example.com"}


async def test_a_file_that_is_not_utf8_is_a_clear_422_and_imports_nothing(app, upload_csv):
    response = await upload_csv("email,first_name\na@example.com,Ann\nb@example.com,J\xf6rg\n".encode("latin-1"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "file" and "UTF-8" in error["message"] and "line 3" in error["message"]
    assert await stored_contact(app, "a@example.com") is None


async def test_the_form_and_header_are_checked(upload_csv, client, editor_headers):
    missing_status = await upload_csv("email\na@example.com\n", status=None)
    assert missing_status.status_code == 422 and missing_status.json()["error"]["field"] == "status"
    wrong_status = await upload_csv("email\na@example.com\n", status="unsubscribed")
    assert wrong_status.status_code == 422 and wrong_status.json()["error"]["field"] == "status"
    for content in ("", "name;mail\nx;y\n", "first_name,last_name\nA,B\n"):
        response = await upload_csv(content)
        assert response.status_code == 422 and "`email` column" in response.json()["error"]["message"], content
    not_multipart = await client.post(f"{CONTACTS}/import", json={"file": "x"}, headers=editor_headers)
    assert not_multipart.status_code == 422


async def test_a_file_past_max_file_size_is_413(app, upload_csv):
    app.state.settings.max_file_size = 1024
    response = await upload_csv("email\n" + "a@example.com\n" * 200)
    assert response.status_code == 413 and response.json()["error"]["code"] == "FILE_TOO_LARGE"


async def test_the_report_lists_the_first_thousand_rejections_and_counts_them_all(upload_csv):
    report = (await upload_csv("email\n" + "nope\n" * 1500)).json()
    assert report["rejected_count"] == 1500 and len(report["rejected"]) == 1000
    assert report["rejected"][0]["row"] == 2 and report["rejected"][-1]["row"] == 1001


async def test_each_batch_is_its_own_short_write(app, upload_csv, monkeypatch):
    """Between two batches the write lock is free: a public write waits for one batch, not the file."""
    monkeypatch.setattr(imports, "BATCH_ROWS", 10)
    writes = []
    original = imports.store_batch

    async def spy(session, **kwargs):
        writes.append(id(session))
        return await original(session, **kwargs)

    monkeypatch.setattr(imports, "store_batch", spy)
    rows = "".join(f"p{n}@example.com\n" for n in range(35))
    report = (await upload_csv("email\n" + rows)).json()
    assert report["imported"] == 35 and len(set(writes)) == 4


async def test_ten_thousand_rows_import_correctly(app, upload_csv):
    rows = "".join(f"person{n}@example.com,First{n},Last{n},Company {n % 50},{'de' if n % 3 else 'en'},"
                   f"t{n % 7};all\n" for n in range(10_000))
    started = time.perf_counter()
    response = await upload_csv("email,first_name,last_name,company,language,tags\n" + rows, status="pending")
    elapsed = time.perf_counter() - started
    report = response.json()
    assert (report["imported"], report["updated"], report["rejected_count"]) == (10_000, 0, 0)
    async with app.state.db.session(write=False) as session:
        assert (await session.exec(select(func.count()).select_from(Contact))).one() == 10_000
        assert (await session.exec(select(func.count()).select_from(ContactTag))).one() == 20_000
        assert (await session.exec(select(func.count()).select_from(ContactSource))).one() == 10_000
        assert (await session.exec(select(func.count()).select_from(OutgoingMail))).one() == 10_000
    assert elapsed < 30  # the figure itself: tests/benchmarks/import_contacts.py
