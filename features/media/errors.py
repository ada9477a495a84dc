from shared.errors import Conflict, UnsupportedMediaType


class FileTypeRefused(UnsupportedMediaType):
    default_message = "This type of file is not accepted"


class PrivateFile(Conflict):
    code = "FILE_IS_PRIVATE"
    default_message = "These bytes are stored as a private document (a whitepaper's); they cannot also be public"
