"""background responses: their queue columns, and the event log replayed to their streams

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('responses') as batch:
        batch.add_column(sa.Column('background', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('command', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('backend', sa.Text(), nullable=True))
        batch.add_column(sa.Column('queued_ns', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('claimed_by', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('lease_until', sa.Float(), nullable=True))
    op.create_index('ix_responses_queue', 'responses', ['status', 'backend', 'queued_ns'])
    op.create_table('response_events',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('response_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('event', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_index('ux_response_events_number', 'response_events', ['response_id', 'number'],
                    unique=True)


def downgrade() -> None:
    op.drop_index('ux_response_events_number', table_name='response_events')
    op.drop_table('response_events')
    op.drop_index('ix_responses_queue', table_name='responses')
    with op.batch_alter_table('responses') as batch:
        for name in ('lease_until', 'claimed_by', 'queued_ns', 'backend', 'command',
                     'background'):
            batch.drop_column(name)
