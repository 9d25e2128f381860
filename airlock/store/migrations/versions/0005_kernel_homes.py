"""kernel homes: which replica holds each thread's code_interpreter kernel

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kernel_homes',
    sa.Column('thread_id', sa.String(length=64), nullable=False),
    sa.Column('replica', sa.String(length=128), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('thread_id')
    )


def downgrade() -> None:
    op.drop_table('kernel_homes')
