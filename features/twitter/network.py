"""X as the shared social service sees it (shared/social_service.py): tables, client, credentials, metrics."""

from features.twitter.client import METRIC_NAMES, XClient
from features.twitter.models import TABLES
from features.twitter.tokens import fresh_credentials
from shared.config import Settings
from shared.db import Database
from shared.publishing import Credentials, SocialProvider
from shared.social_service import Network
from shared.token_crypto import token_cipher


async def credentials(database: Database, settings: Settings, provider: SocialProvider, account_id: int) -> Credentials:
    """The account's token, refreshed first when it has less than five minutes left (one process at a time)."""
    return await fresh_credentials(
        database, provider=provider, cipher=token_cipher(settings), account_id=account_id,
        timeout_seconds=settings.provider_timeout_seconds,
    )


NETWORK = Network(
    tables=TABLES, label="X", client=XClient, credentials=credentials, metric_names=tuple(METRIC_NAMES.values()),
    refreshes_tokens=True,
)
