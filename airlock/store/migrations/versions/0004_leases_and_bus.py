"""leases on claimed work, and the bus's overflow for notifications too big for NOTIFY

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.Float(), nullable=True))
    with op.batch_alter_table('vector_store_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', sa.Float(), nullable=True))
    op.create_table('bus_overflow',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )


def downgrade() -> None:
    op.drop_table('bus_overflow')
    with op.batch_alter_table('vector_store_files', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
        batch_op.drop_column('claimed_by')
