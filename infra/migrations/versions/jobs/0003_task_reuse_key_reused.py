"""task reuse key and reused flag, tasks by reuse key (result reuse)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reuse_key', sa.String(length=64), nullable=True))
        # sa.false(): FALSE on PostgreSQL, 0 on SQLite (a bare 0 is no boolean to PostgreSQL)
        batch_op.add_column(sa.Column('reused', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.create_index('ix_tasks_reuse_key', ['reuse_key'], unique=False)


def downgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_reuse_key')
        batch_op.drop_column('reused')
        batch_op.drop_column('reuse_key')
