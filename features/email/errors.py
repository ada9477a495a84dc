"""Typed errors of the email slice (409s with their own codes, one 404 for every bad link)."""

from shared import errors


class InvalidTransition(errors.InvalidTransition):
    default_message = "The campaign cannot do this in its current status"


class TemplateInUse(errors.InUse):
    default_message = "A campaign that is not finished uses this template"


class EmailTaken(errors.Conflict):
    code = "EMAIL_TAKEN"
    default_message = "A contact with this email already exists"


class EmailSuppressed(errors.Conflict):
    code = "EMAIL_SUPPRESSED"
    default_message = "This address belonged to an erased contact and may not be added again"


class LinkInvalid(errors.NotFound):
    """Forged, expired, or for a contact that is gone: all alike 404."""

    default_message = "This link is not valid (any more)"
