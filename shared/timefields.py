"""Date-time and time-zone fields of request bodies, checked the same way by every slice."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, AwareDatetime, StringConstraints

# Files in the zone database that are no IANA zone: "localtime" is the server's own zone,
# which would silently announce events in whatever zone the machine happens to be set to.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(
        name for name in available_timezones() if name not in _NOT_ZONES and not name.startswith(("posix/", "right/"))
    )


def is_time_zone(name: str) -> bool:
    """Whether `name` is an IANA zone this machine knows (never a path or anything else)."""
    return name in _zone_names()


def _known_zone(name: str) -> str:
    if not is_time_zone(name):
        raise ValueError("must be an IANA time zone name such as Europe/Berlin")
    return name


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:30-01:00, say: no UTC instant exists
        raise ValueError("is out of range") from exc


# An instant with an offset, converted to UTC as it is read (storage and comparisons are in UTC).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_known_zone)]
