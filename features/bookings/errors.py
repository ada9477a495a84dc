"""Typed errors of the bookings slice."""

from shared import errors
from shared.errors import Conflict, NotFound


class SlotTaken(Conflict):
    code = "SLOT_TAKEN"
    default_message = "This time overlaps another booking; pick a free slot"


class InvalidTransition(errors.InvalidTransition):
    default_message = "A booking cannot move to this status from its current one"


class CancelLinkInvalid(NotFound):
    """Forged, expired (the booking has begun) or for a booking that is gone: all alike 404."""

    default_message = "This cancellation link is not valid (any more)"
