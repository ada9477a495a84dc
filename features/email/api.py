"""The email slice's public face: its jobs, mails and the events it reacts to."""

from typing import Any

from shared.events import Event, Handler
from shared.jobs import PeriodicJob
from shared.mail_templates import MailTemplate

JOBS: tuple[PeriodicJob, ...] = ()
MAIL_TEMPLATES: tuple[MailTemplate[Any], ...] = ()
SUBSCRIPTIONS: tuple[tuple[type[Event], Handler], ...] = ()
