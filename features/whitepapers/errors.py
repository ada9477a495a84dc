from shared.errors import UnsupportedMediaType


class NotADocument(UnsupportedMediaType):
    default_message = "A whitepaper's document must be a PDF or office document, not an image"
