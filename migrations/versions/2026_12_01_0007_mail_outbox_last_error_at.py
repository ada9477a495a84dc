"""mail outbox: when the last delivery attempt failed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_error_at', shared.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(
            'ix_mail_outbox_last_error_at', ['last_error_at'], unique=False,
            sqlite_where=sa.text('last_error_at IS NOT NULL'), postgresql_where=sa.text('last_error_at IS NOT NULL'),
        )


def downgrade() -> None:
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_mail_outbox_last_error_at')
        batch_op.drop_column('last_error_at')
