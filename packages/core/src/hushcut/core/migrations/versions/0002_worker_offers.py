"""workers advertise their offers; jobs record the capabilities they need

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("offer", sa.JSON(), nullable=False),
        sa.Column("offer_digest", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_index(op.f("ix_workers_expires_at"), "workers", ["expires_at"], unique=False)
    op.create_table(
        "job_requirements",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("capability", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["video_jobs.id"],
            name=op.f("fk_job_requirements_job_id_video_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "capability", name=op.f("pk_job_requirements")),
    )
    _record_requirements_of_unfinished_jobs()


def _record_requirements_of_unfinished_jobs() -> None:
    # The rule of hushcut.core.capabilities.required_capabilities as it was when this
    # migration was written (a migration must not change when the code does).
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, options FROM video_jobs "
            "WHERE status IN ('PENDING', 'QUEUED', 'PROCESSING')"
        )
    ).all()
    requirements: list[dict[str, str]] = []
    for job_id, raw in rows:
        options = json.loads(raw) if isinstance(raw, str) else (raw or {})
        needed: set[str] = set()
        for kind in ("detector", "renderer"):
            if isinstance(options.get(kind), str) and options[kind]:
                needed.add(f"{kind}:{options[kind]}")
        if isinstance(options.get("plugins"), dict):
            needed.update(f"plugin:{name}" for name in options["plugins"])
        requirements += [{"job_id": job_id, "capability": c} for c in sorted(needed)]
    if requirements:
        table = sa.table("job_requirements", sa.column("job_id"), sa.column("capability"))
        op.bulk_insert(table, requirements)


def downgrade() -> None:
    op.drop_table("job_requirements")
    op.drop_index(op.f("ix_workers_expires_at"), table_name="workers")
    op.drop_table("workers")
