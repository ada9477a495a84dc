"""rate limit hits: public-write counts shared by every machine on one PostgreSQL database

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 09:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # On SQLite too (one schema for both engines), where it stays empty: SQLite counts in its side file.
    op.create_table(
        'rate_limit_hits',
        sa.Column('bucket', sa.String(length=64), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('window', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('bucket', 'client', 'window', name=op.f('pk_rate_limit_hits')),
    )


def downgrade() -> None:
    op.drop_table('rate_limit_hits')
