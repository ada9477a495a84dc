"""The health slice's api (the admin slice builds system-health on it)."""

from features.health.schemas import DetailedHealth
from features.health.service import VERSION, detailed_health

__all__ = ["VERSION", "DetailedHealth", "detailed_health"]
