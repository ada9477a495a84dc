"""email audience templates campaigns

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 19:46:23.844396
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import shared.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('email_contacts',
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('first_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('last_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('company', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('consent_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('consent_origin', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('soft_bounces', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'subscribed', 'unsubscribed', 'bounced', 'no_consent')", name=op.f('ck_email_contacts_status_known')),
    sa.CheckConstraint('soft_bounces >= 0', name=op.f('ck_email_contacts_soft_bounces')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_contacts')),
    sa.UniqueConstraint('email', name=op.f('uq_email_contacts_email')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('email_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_contacts_status'), ['status'], unique=False)

    op.create_table('email_send_pace',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('next_slot', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_email_send_pace'))
    )
    op.create_table('email_suppressions',
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_email_suppressions'))
    )
    op.create_table('email_contact_sources',
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['email_contacts.id'], name=op.f('fk_email_contact_sources_contact_id_email_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('contact_id', 'source', name=op.f('pk_email_contact_sources'))
    )
    with op.batch_alter_table('email_contact_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_contact_sources_source'), ['source'], unique=False)

    op.create_table('email_contact_tags',
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('tag', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['email_contacts.id'], name=op.f('fk_email_contact_tags_contact_id_email_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('contact_id', 'tag', name=op.f('pk_email_contact_tags'))
    )
    with op.batch_alter_table('email_contact_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_contact_tags_tag'), ['tag'], unique=False)

    op.create_table('email_templates',
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('subject', shared.db.JSONDocument(), nullable=False),
    sa.Column('html_body', shared.db.JSONDocument(), nullable=False),
    sa.Column('text_body', shared.db.JSONDocument(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['admin_users.id'], name=op.f('fk_email_templates_created_by_admin_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_templates'))
    )
    op.create_table('email_campaigns',
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=True),
    sa.Column('audience', shared.db.JSONDocument(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('scheduled_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('track_opens', sa.Boolean(), nullable=False),
    sa.Column('track_clicks', sa.Boolean(), nullable=False),
    sa.Column('status_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled', 'failed')", name=op.f('ck_email_campaigns_status_known')),
    sa.ForeignKeyConstraint(['created_by'], ['admin_users.id'], name=op.f('fk_email_campaigns_created_by_admin_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['template_id'], ['email_templates.id'], name=op.f('fk_email_campaigns_template_id_email_templates'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_campaigns'))
    )
    with op.batch_alter_table('email_campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_campaigns_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_campaigns_template_id'), ['template_id'], unique=False)

    op.create_table('email_campaign_recipients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('claimed_until', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('sent_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('opened_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('clicked_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('unsubscribed_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('bounced_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'skipped')", name=op.f('ck_email_campaign_recipients_status_known')),
    sa.ForeignKeyConstraint(['campaign_id'], ['email_campaigns.id'], name=op.f('fk_email_campaign_recipients_campaign_id_email_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['email_contacts.id'], name=op.f('fk_email_campaign_recipients_contact_id_email_contacts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_campaign_recipients')),
    sa.UniqueConstraint('campaign_id', 'contact_id', name=op.f('uq_email_campaign_recipients_campaign_id'))
    )
    with op.batch_alter_table('email_campaign_recipients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_campaign_recipients_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index('ix_email_campaign_recipients_progress', ['campaign_id', 'status', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('email_campaign_recipients', schema=None) as batch_op:
        batch_op.drop_index('ix_email_campaign_recipients_progress')
        batch_op.drop_index(batch_op.f('ix_email_campaign_recipients_contact_id'))

    op.drop_table('email_campaign_recipients')
    with op.batch_alter_table('email_campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_campaigns_template_id'))
        batch_op.drop_index(batch_op.f('ix_email_campaigns_status'))

    op.drop_table('email_campaigns')
    op.drop_table('email_templates')
    with op.batch_alter_table('email_contact_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_contact_tags_tag'))

    op.drop_table('email_contact_tags')
    with op.batch_alter_table('email_contact_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_contact_sources_source'))

    op.drop_table('email_contact_sources')
    op.drop_table('email_suppressions')
    op.drop_table('email_send_pace')
    with op.batch_alter_table('email_contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_contacts_status'))

    op.drop_table('email_contacts')
