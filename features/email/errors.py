"""Typed errors of the email slice (409s with their own codes, one 404 for every bad link)."""

from shared.errors import Conflict, NotFound


class EmailTaken(Conflict):
    code = "EMAIL_TAKEN"
    default_message = "A contact with this email already exists"


class EmailSuppressed(Conflict):
    code = "EMAIL_SUPPRESSED"
    default_message = "This address belonged to an erased contact and may not be added again"


class InvalidTransition(Conflict):
    code = "INVALID_TRANSITION"
    default_message = "A contact cannot move to this status from its current one"


class LinkInvalid(NotFound):
    """Forged, expired, or for a contact that is gone: all alike 404."""

    default_message = "This link is not valid (any more)"
