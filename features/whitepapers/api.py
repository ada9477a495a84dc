"""The whitepapers slice's public face."""

from features.whitepapers import emails
from shared.jobs import PeriodicJob

JOBS: tuple[PeriodicJob, ...] = ()
MAIL_TEMPLATES = {template.name: template for template in emails.MAIL_TEMPLATES}
