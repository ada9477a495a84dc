"""analytics: when a campaign message was given up on, and the indexes the admin analytics count over

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 06:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECIPIENT_EVENTS = ('sent_at', 'failed_at', 'opened_at', 'clicked_at', 'unsubscribed_at', 'bounced_at')
PLAIN_INDEXES = (
    ('ix_bookings_status_created_at', 'bookings', ['status', 'created_at']),
    ('ix_pages_status_published_at', 'pages', ['status', 'published_at']),
    ('ix_media_items_created_at_size', 'media_items', ['created_at', 'size']),
    ('ix_linkedin_posts_status_published_at', 'linkedin_posts', ['status', 'published_at']),
    ('ix_twitter_posts_status_published_at', 'twitter_posts', ['status', 'published_at']),
)


def upgrade() -> None:
    # A plain ADD COLUMN (no batch): the recipients table may hold millions of rows.
    op.add_column(
        'email_campaign_recipients', sa.Column('failed_at', shared.db.UTCDateTime(timezone=True), nullable=True)
    )
    # Messages given up on before this revision: the last attempt was due at next_attempt_at
    # (a permanent refusal also set bounced_at at that moment).
    op.execute(
        "UPDATE email_campaign_recipients SET failed_at = COALESCE(bounced_at, next_attempt_at) WHERE status = 'failed'"
    )
    for name in RECIPIENT_EVENTS:
        op.create_index(
            f'ix_email_campaign_recipients_{name}', 'email_campaign_recipients', [name], unique=False,
            sqlite_where=sa.text(f'{name} IS NOT NULL'), postgresql_where=sa.text(f'{name} IS NOT NULL'),
        )
    for name, table, columns in PLAIN_INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in PLAIN_INDEXES:
        op.drop_index(name, table_name=table)
    for name in RECIPIENT_EVENTS:
        op.drop_index(f'ix_email_campaign_recipients_{name}', table_name='email_campaign_recipients')
    with op.batch_alter_table('email_campaign_recipients', schema=None) as batch_op:
        batch_op.drop_column('failed_at')
