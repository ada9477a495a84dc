"""linkedin accounts posts media engagement

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:06:30.802741
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import shared.db

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('linkedin_accounts',
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('provider_user_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('scopes', shared.db.JSONDocument(), nullable=False),
    sa.Column('access_token_encrypted', sqlmodel.sql.sqltypes.AutoString(length=8000), nullable=False),
    sa.Column('refresh_token_encrypted', sqlmodel.sql.sqltypes.AutoString(length=8000), nullable=True),
    sa.Column('token_expires_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refresh_expires_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('status_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('postponed_until', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_linkedin_accounts')),
    sa.UniqueConstraint('provider_user_id', name=op.f('uq_linkedin_accounts_provider_user_id'))
    )
    op.create_table('linkedin_posts',
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('scheduled_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('lease_until', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('metrics_fetched_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['linkedin_accounts.id'], name=op.f('fk_linkedin_posts_account_id_linkedin_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['admin_users.id'], name=op.f('fk_linkedin_posts_created_by_admin_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_linkedin_posts'))
    )
    with op.batch_alter_table('linkedin_posts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_linkedin_posts_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_linkedin_posts_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_linkedin_posts_status'), ['status'], unique=False)

    op.create_table('linkedin_engagement_snapshots',
    sa.Column('fetched_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('metrics', shared.db.JSONDocument(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['linkedin_posts.id'], name=op.f('fk_linkedin_engagement_snapshots_post_id_linkedin_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_linkedin_engagement_snapshots'))
    )
    with op.batch_alter_table('linkedin_engagement_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_linkedin_engagement_snapshots_fetched_at'), ['fetched_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_linkedin_engagement_snapshots_post_id'), ['post_id'], unique=False)

    op.create_table('linkedin_media',
    sa.Column('provider_media_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('uploaded_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('media_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['linkedin_accounts.id'], name=op.f('fk_linkedin_media_account_id_linkedin_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['media_id'], ['media_items.id'], name=op.f('fk_linkedin_media_media_id_media_items'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_linkedin_media')),
    sa.UniqueConstraint('media_id', 'account_id', name=op.f('uq_linkedin_media_media_id'))
    )
    op.create_table('linkedin_post_segments',
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=10000), nullable=False),
    sa.Column('media_ids', shared.db.JSONDocument(), nullable=False),
    sa.Column('provider_post_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('accepted_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['linkedin_posts.id'], name=op.f('fk_linkedin_post_segments_post_id_linkedin_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_linkedin_post_segments')),
    sa.UniqueConstraint('post_id', 'position', name=op.f('uq_linkedin_post_segments_post_id'))
    )


def downgrade() -> None:
    op.drop_table('linkedin_post_segments')
    op.drop_table('linkedin_media')
    with op.batch_alter_table('linkedin_engagement_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_linkedin_engagement_snapshots_post_id'))
        batch_op.drop_index(batch_op.f('ix_linkedin_engagement_snapshots_fetched_at'))

    op.drop_table('linkedin_engagement_snapshots')
    with op.batch_alter_table('linkedin_posts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_linkedin_posts_status'))
        batch_op.drop_index(batch_op.f('ix_linkedin_posts_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_linkedin_posts_account_id'))

    op.drop_table('linkedin_posts')
    op.drop_table('linkedin_accounts')
