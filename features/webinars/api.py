"""The webinars slice's public face."""

from shared.jobs import PeriodicJob

JOBS: tuple[PeriodicJob, ...] = ()
