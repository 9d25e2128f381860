"""vector stores, their files and file batches

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vector_stores',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('expires_after', sa.JSON(), nullable=True),
    sa.Column('expires_at', sa.Integer(), nullable=True),
    sa.Column('last_active_at', sa.Integer(), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id')
    )
    op.create_table('vector_store_files',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('vector_store_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.Column('usage_bytes', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('last_error', sa.JSON(), nullable=True),
    sa.Column('chunking_strategy', sa.JSON(), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=True),
    sa.Column('batch_id', sa.String(length=64), nullable=True),
    sa.Column('claim', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['vector_store_id'], ['vector_stores.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('vector_store_files', schema=None) as batch_op:
        batch_op.create_index('ux_vector_store_files_store_file', ['vector_store_id', 'id'], unique=True)
        batch_op.create_index('ix_vector_store_files_store_seq', ['vector_store_id', 'seq'], unique=False)
        batch_op.create_index('ix_vector_store_files_batch', ['batch_id'], unique=False)
        batch_op.create_index('ix_vector_store_files_file', ['id'], unique=False)
        batch_op.create_index('ix_vector_store_files_queue', ['status', 'claim'], unique=False)
    op.create_table('vector_store_file_batches',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('vector_store_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.Column('cancelled', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['vector_store_id'], ['vector_stores.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('vector_store_file_batches')
    op.drop_table('vector_store_files')
    op.drop_table('vector_stores')
