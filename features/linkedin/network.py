"""LinkedIn as the shared social service sees it (shared/social_service.py): tables, client, credentials, metrics."""

from features.linkedin.client import METRICS, LinkedInClient
from features.linkedin.models import TABLES, LinkedInAccount
from shared.config import Settings
from shared.db import Database
from shared.errors import NotFound
from shared.publishing import Credentials, SocialProvider
from shared.social_service import Network, readable_token
from shared.token_crypto import token_cipher


async def credentials(database: Database, settings: Settings, _client: SocialProvider, account_id: int) -> Credentials:
    """The member's stored token (LinkedIn gives most apps no refresh token: it lives 60 days); one no key
    decrypts marks the account `reconnect_required` and raises ReconnectFirst."""
    async with database.session(write=False) as session:
        account = await session.get(LinkedInAccount, account_id)
    if account is None:
        raise NotFound("LinkedIn account not found")
    token = await readable_token(
        database, tables=TABLES, account_id=account_id, cipher=token_cipher(settings),
        stored=account.access_token_encrypted,
    )
    return Credentials(account.provider_user_id, token)


NETWORK = Network(
    tables=TABLES, label="LinkedIn", client=LinkedInClient, credentials=credentials,
    metric_names=tuple(METRICS.values()),
)
