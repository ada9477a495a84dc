"""The whitepapers slice's api (what other slices and the shell may import)."""

from features.whitepapers import emails
from features.whitepapers.stats import stats
from shared.jobs import PeriodicJob

JOBS: tuple[PeriodicJob, ...] = ()
MAIL_TEMPLATES = emails.MAIL_TEMPLATES

__all__ = ["JOBS", "MAIL_TEMPLATES", "stats"]
