"""twitter post images: a post's media items, so the media slice refuses to delete one still used

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 02:17:04.091002
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('twitter_post_images',
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('media_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['media_id'], ['media_items.id'], name=op.f('fk_twitter_post_images_media_id_media_items'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['post_id'], ['twitter_posts.id'], name=op.f('fk_twitter_post_images_post_id_twitter_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('post_id', 'media_id', name=op.f('pk_twitter_post_images'))
    )
    with op.batch_alter_table('twitter_post_images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_twitter_post_images_media_id'), ['media_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('twitter_post_images', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_twitter_post_images_media_id'))

    op.drop_table('twitter_post_images')
