"""kernel_homes: a kernel is a thread's or a container's, so its key no longer points at threads

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def _table(with_foreign_key: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
               sa.Column('thread_id', sa.String(length=64), nullable=False),
               sa.Column('replica', sa.String(length=128), nullable=False),
               sa.Column('updated_at', sa.Float(), nullable=False),
               sa.PrimaryKeyConstraint('thread_id')]
    if with_foreign_key:
        columns.append(sa.ForeignKeyConstraint(['thread_id'], ['threads.id'],
                                               ondelete='CASCADE'))
    op.create_table('kernel_homes', *columns)


def upgrade() -> None:
    # Homes live as long as a kernel does: dropping them loses nothing (the next code round
    # records its replica again).
    op.drop_table('kernel_homes')
    _table(with_foreign_key=False)


def downgrade() -> None:
    op.drop_table('kernel_homes')
    _table(with_foreign_key=True)
