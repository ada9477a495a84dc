import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from pydantic import ValidationError

from shared.calendar import ics_invite
from shared.export import csv_bytes
from shared.security import create_link_token, read_link_token
from shared.visitors import VisitorFields


def test_csv_quotes_properly_and_defuses_formulas():
    data = csv_bytes(["name", "note"], [["=HYPERLINK(\"x\")", "a,b"], ["+1", "@SUM(A1)"], ["-3", 'say "hi"'], ["ok", None]])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["name", "note"]
    assert rows[1] == ["'=HYPERLINK(\"x\")", "a,b"]
    assert rows[2] == ["'+1", "'@SUM(A1)"]
    assert rows[3] == ["'-3", 'say "hi"']
    assert rows[4] == ["ok", ""]


def test_link_tokens_are_bound_to_purpose_and_expire():
    token = create_link_token(purpose="download", subject="7", ttl=timedelta(hours=1), secret="k" * 40)
    assert read_link_token(token, purpose="download", secret="k" * 40) == "7"
    assert read_link_token(token, purpose="cancel", secret="k" * 40) is None
    assert read_link_token(token, purpose="download", secret="other" * 10) is None
    assert read_link_token(token + "x", purpose="download", secret="k" * 40) is None
    expired = create_link_token(purpose="download", subject="7", ttl=timedelta(seconds=-1), secret="k" * 40)
    assert read_link_token(expired, purpose="download", secret="k" * 40) is None


def test_ics_invite_parses_with_utc_times():
    start = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    invite = ics_invite(
        uid="webinar-1@magnetiq", summary="Launch", description="Join us", starts_at=start,
        duration=timedelta(minutes=45), timezone_name="Europe/Berlin", organizer_email="noreply@example.com",
        attendee_email="visitor@example.com", url="https://meet.example/1",
    )
    event = Calendar.from_ical(invite.data).walk("VEVENT")[0]
    assert event.decoded("dtstart") == start
    assert event.decoded("dtend") == start + timedelta(minutes=45)
    assert str(event["summary"]) == "Launch"
    cancelled = Calendar.from_ical(ics_invite(
        uid="webinar-1@magnetiq", summary="Launch", description="", starts_at=start, duration=timedelta(minutes=45),
        timezone_name="UTC", organizer_email="a@example.com", attendee_email="b@example.com", cancelled=True,
    ).data)
    assert str(cancelled["method"]) == "CANCEL"


def test_visitor_consent_is_required_never_defaulted():
    base = {"first_name": "Ada", "last_name": "L", "email": "ada@example.com"}
    with pytest.raises(ValidationError):
        VisitorFields(**base)
    assert VisitorFields(**base, consent_marketing=False).consent_marketing is False
    with pytest.raises(ValidationError):
        VisitorFields(**{**base, "email": "not-an-email"}, consent_marketing=True)


def test_mail_keeps_its_language_even_with_attachments():
    from shared.config import Settings
    from shared.mail import Attachment, build_message

    message = build_message(
        Settings(_env_file=None), to="a@example.com", subject="Hallo", text="Hallo", language="de",
        attachments=(Attachment("invite.ics", "text/calendar", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"),),
    )
    assert message["Content-Language"] == "de"
