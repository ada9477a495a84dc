"""A campaign sender in a process of its own, for the tests that kill one or run two at once.

    python -m features.email.tests.sending_process DATABASE_URL SMTP_PORT
"""

import asyncio
import sys

from features.email.sender import CampaignSender
from shared.config import Settings
from shared.db import Database
from shared.jobs import JobContext
from shared.mail import Mailer


async def main(database_url: str, smtp_port: int) -> None:
    settings = Settings(
        _env_file=None, environment="test", database_url=database_url, smtp_host="127.0.0.1", smtp_port=smtp_port,
        email_send_rate=1_000_000, worker_enabled=False,
    )
    database = Database.from_url(database_url)
    context = JobContext(database=database, settings=settings, mailer=Mailer(settings))
    try:
        while await CampaignSender(context).run(seconds=30):
            pass
    finally:
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
