"""run queue and scripted replies

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scripted_replies',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('thread_id', sa.String(length=64), nullable=True),
    sa.Column('reply', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('scripted_replies', schema=None) as batch_op:
        batch_op.create_index('ix_scripted_replies_thread_seq', ['thread_id', 'seq'], unique=False)

    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backend', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('queued_ns', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_runs_queue', ['status', 'backend', 'queued_ns'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_queue')
        batch_op.drop_column('queued_ns')
        batch_op.drop_column('backend')

    with op.batch_alter_table('scripted_replies', schema=None) as batch_op:
        batch_op.drop_index('ix_scripted_replies_thread_seq')

    op.drop_table('scripted_replies')
