"""The media slice's public face: other slices store and look up files through it."""

from features.media.schemas import MediaPublic
from features.media.service import get_media, store_upload, to_public
from features.media.upload import ReceivedUpload, receive_upload

__all__ = ["MediaPublic", "ReceivedUpload", "get_media", "receive_upload", "store_upload", "to_public"]
