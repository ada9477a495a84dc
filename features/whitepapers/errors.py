from shared.errors import Conflict, UnsupportedMediaType


class SlugTaken(Conflict):
    code = "SLUG_TAKEN"
    default_message = "Another whitepaper already uses this slug"


class NotADocument(UnsupportedMediaType):
    default_message = "A whitepaper's document must be a PDF or office document, not an image"
