from shared.errors import UnsupportedMediaType


class FileTypeRefused(UnsupportedMediaType):
    default_message = "This type of file is not accepted"
