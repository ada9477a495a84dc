"""The health slice's api (the admin slice builds system-health on its probes)."""

from features.health.service import (
    DATABASE_BUSY,
    DATABASE_UNREACHABLE,
    SCHEMA_NOT_AT_HEAD,
    UPLOAD_DIR_NOT_WRITABLE,
    VERSION,
    database_file_sizes,
    database_state,
    engine_facts,
    upload_dir_writable,
)

__all__ = [
    "DATABASE_BUSY", "DATABASE_UNREACHABLE", "SCHEMA_NOT_AT_HEAD", "UPLOAD_DIR_NOT_WRITABLE", "VERSION",
    "database_file_sizes", "database_state", "engine_facts", "upload_dir_writable",
]
