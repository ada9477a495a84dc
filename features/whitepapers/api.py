"""The whitepapers slice's api (what other slices and the shell may import)."""

from features.whitepapers import emails
from shared.jobs import PeriodicJob

JOBS: tuple[PeriodicJob, ...] = ()
MAIL_TEMPLATES = emails.MAIL_TEMPLATES
