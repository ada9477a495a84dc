"""The webinars slice's public face."""

from features.webinars.mails import render_confirmation
from features.webinars.registrations import CONFIRMATION_TEMPLATE
from shared.jobs import PeriodicJob
from shared.mail import Renderer

JOBS: tuple[PeriodicJob, ...] = ()
MAIL_TEMPLATES: dict[str, Renderer] = {CONFIRMATION_TEMPLATE: render_confirmation}
