"""The bookings slice's public face: no jobs, and nothing other slices need yet (leads go out as LeadCaptured)."""

from shared.jobs import PeriodicJob

JOBS: tuple[PeriodicJob, ...] = ()
