"""Typed errors of the webinars slice (409s with their own codes)."""

from shared import errors
from shared.errors import Conflict


class WebinarFull(Conflict):
    code = "WEBINAR_FULL"
    default_message = "This webinar is fully booked"


class WebinarNotOpen(Conflict):
    code = "WEBINAR_NOT_OPEN"
    default_message = "This webinar is not open for registration"


class WebinarCancelled(Conflict):
    code = "WEBINAR_CANCELLED"
    default_message = "This webinar has been cancelled"


class WebinarStarted(Conflict):
    code = "WEBINAR_STARTED"
    default_message = "This webinar has already started"


class InvalidTransition(errors.InvalidTransition):
    default_message = "A cancelled webinar stays cancelled"
