"""responses.kernel: the container a background response's code runs in, so on replicas the
one holding that container's kernel claims it

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('responses') as batch:
        batch.add_column(sa.Column('kernel', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('responses') as batch:
        batch.drop_column('kernel')
