"""bus_log: every replica-to-replica message of the last few minutes, replacing bus_overflow
(which kept only the messages too big for a notification)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _table(name: str) -> None:
    op.create_table(name,
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )


def upgrade() -> None:
    # Messages are kept minutes at most: nothing in the old table needs to move.
    op.drop_table('bus_overflow')
    _table('bus_log')
    op.create_index('ix_bus_log_created_at', 'bus_log', ['created_at'])


def downgrade() -> None:
    op.drop_index('ix_bus_log_created_at', table_name='bus_log')
    op.drop_table('bus_log')
    _table('bus_overflow')
