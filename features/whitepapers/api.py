"""The whitepapers slice's public face."""

from features.whitepapers import emails
from shared.jobs import PeriodicJob

JOBS: tuple[PeriodicJob, ...] = ()
MAIL_TEMPLATES = emails.MAIL_TEMPLATES
