from shared.errors import Conflict


class SlugTaken(Conflict):
    code = "SLUG_TAKEN"
    default_message = "Another page already uses this slug"
