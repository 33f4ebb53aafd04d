"""storage_usage: each user's stored bytes as one row, filled from the records

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# services/jobs/quota.py recount() as it stood at this revision (a migration
# does not import the code it migrates for): inputs until the job is final,
# outputs of succeeded tasks, nothing of a cancelled job.
FILL = """
INSERT INTO storage_usage (user_id, used_bytes)
SELECT jobs.user_id, COALESCE(SUM(
    CASE WHEN jobs.status IN ('succeeded', 'failed', 'partial', 'cancelled') THEN 0
         ELSE COALESCE(tasks.input_bytes, 0) END
  + CASE WHEN tasks.status = 'succeeded' THEN COALESCE(tasks.output_bytes, 0) ELSE 0 END), 0)
FROM tasks JOIN jobs ON tasks.job_id = jobs.id
WHERE jobs.status != 'cancelled'
GROUP BY jobs.user_id
"""


def upgrade():
    op.create_table(
        'storage_usage',
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('used_bytes', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('user_id'),
    )
    op.execute(FILL)


def downgrade():
    op.drop_table('storage_usage')
