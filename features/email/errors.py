"""Typed errors of the email slice."""

from shared import errors


class InvalidTransition(errors.InvalidTransition):
    default_message = "The campaign cannot do this in its current status"


class TemplateInUse(errors.InUse):
    default_message = "A campaign that is not finished uses this template"
