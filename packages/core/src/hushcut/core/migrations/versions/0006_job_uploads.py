"""a job's upload in parts and its input's ETag at confirmation

``upload_id`` and ``upload_part_size`` name the storage upload in parts a job's input is
arriving by (resumable; aborted by the workers' reconciler when abandoned);
``input_etag`` is recorded by confirmUpload so a worker can refuse a replaced input.
Existing jobs get NULLs: no upload in progress, and no ETag to compare.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('video_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('upload_id', sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column('upload_part_size', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('input_etag', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('video_jobs', schema=None) as batch_op:
        batch_op.drop_column('input_etag')
        batch_op.drop_column('upload_part_size')
        batch_op.drop_column('upload_id')
