"""Campaign mail still to leave, as system health shows it (features/email/backlog.py)."""

from features.email.api import campaign_backlog
from features.email.models import Campaign, CampaignRecipient


async def _campaign(app, status: str, recipients: dict[str, int]) -> None:
    async with app.state.db.session() as session:
        campaign = Campaign(name=status, status=status)
        session.add(campaign)
        await session.flush()
        for recipient_status, count in recipients.items():
            session.add_all(CampaignRecipient(campaign_id=campaign.id, status=recipient_status) for _ in range(count))


async def test_the_backlog_counts_pending_recipients_of_unfinished_campaigns_only(app, client, admin_headers):
    await _campaign(app, "sending", {"pending": 3, "sent": 2, "sending": 1})
    await _campaign(app, "paused", {"pending": 2, "failed": 1})
    await _campaign(app, "cancelled", {"pending": 5})  # never sent any more: not a backlog
    await _campaign(app, "draft", {})

    async with app.state.db.session(write=False) as session:
        backlog = await campaign_backlog(session)

    assert backlog.model_dump() == {"recipients_pending": 5, "campaigns_sending": 1, "campaigns_paused": 1}
    body = (await client.get("/api/v1/admin/system-health", headers=admin_headers)).json()
    assert body["checks"]["queues"]["campaigns"] == backlog.model_dump()
    assert "5 campaign recipients pending" in body["checks"]["queues"]["message"]
