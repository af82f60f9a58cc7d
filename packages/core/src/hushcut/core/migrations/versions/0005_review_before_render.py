"""review before render: jobs that wait in REVIEW, their analyses, rendered timelines and exports

Existing jobs get ``review`` false and no exports (NULL); nothing else changes for them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, no batch copy: on SQLite a batch operation recreates
    # video_jobs, and dropping the old table would cascade to every row that refers
    # to it (job_requirements).
    op.add_column(
        "video_jobs",
        sa.Column("review", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "video_jobs", sa.Column("review_expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("video_jobs", sa.Column("exports", sa.JSON(), nullable=True))
    op.create_table(
        "job_analyses",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("detector", sa.String(length=200), nullable=False),
        sa.Column("threshold_db", sa.Float(), nullable=True),
        sa.Column("noise_floor_db", sa.Float(), nullable=True),
        sa.Column("speech_db", sa.Float(), nullable=True),
        sa.Column("silences", sa.JSON(), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("peaks_key", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["video_jobs.id"],
            name=op.f("fk_job_analyses_job_id_video_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_analyses")),
    )
    op.create_table(
        "job_timelines",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["video_jobs.id"],
            name=op.f("fk_job_timelines_job_id_video_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_timelines")),
    )


def downgrade() -> None:
    op.drop_table("job_timelines")
    op.drop_table("job_analyses")
    # SQLite 3.35+ drops columns in place (no table copy, so nothing cascades).
    op.drop_column("video_jobs", "exports")
    op.drop_column("video_jobs", "review_expires_at")
    op.drop_column("video_jobs", "review")
