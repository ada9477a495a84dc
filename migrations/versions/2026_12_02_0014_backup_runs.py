"""admin: the record of every backup run

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 05:20:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'backup_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('trigger', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('started_at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('size_bytes', sa.Integer(), nullable=True),
        sa.Column('database_sha256', sa.String(length=64), nullable=True),
        sa.Column('revision', sa.String(length=32), nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name=op.f('ck_backup_runs_status_known')),
        sa.CheckConstraint("trigger IN ('manual', 'scheduled')", name=op.f('ck_backup_runs_trigger_known')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_backup_runs')),
    )
    op.create_index(op.f('ix_backup_runs_started_at'), 'backup_runs', ['started_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_backup_runs_started_at'), table_name='backup_runs')
    op.drop_table('backup_runs')
