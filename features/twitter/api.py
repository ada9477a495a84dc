"""The twitter slice's api (what other slices and the shell may import)."""

from features.twitter.accounts import accounts_health
from features.twitter.service import post_queue
from features.twitter.worker import JOBS

__all__ = ["JOBS", "accounts_health", "post_queue"]
