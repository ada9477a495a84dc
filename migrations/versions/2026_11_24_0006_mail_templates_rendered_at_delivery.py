"""mail templates rendered at delivery

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 18:42:32.949100
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import shared.db

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('params', shared.db.JSONDocument(), nullable=True))
        batch_op.alter_column('message', existing_type=sa.BLOB(), nullable=True)


def downgrade() -> None:
    # The old schema cannot hold a message that was never rendered: those are dropped.
    op.execute("DELETE FROM mail_outbox WHERE message IS NULL")
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.alter_column('message', existing_type=sa.BLOB(), nullable=False)
        batch_op.drop_column('params')
        batch_op.drop_column('template')
