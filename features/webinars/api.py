"""The webinars slice's api (what other slices and the shell may import)."""

from features.webinars import mails
from features.webinars.stats import stats
from shared.jobs import PeriodicJob

JOBS: tuple[PeriodicJob, ...] = ()
MAIL_TEMPLATES = mails.MAIL_TEMPLATES

__all__ = ["JOBS", "MAIL_TEMPLATES", "stats"]
