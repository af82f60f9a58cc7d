"""teams and the life of data: invitations, the ledger's balance and links, deletion
and retention marks on jobs, delayed storage purges

Existing ledger rows get their balance after each movement (the running sum in the
order they were written), the job a charge or refund was for, and the payment a
purchase was for.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "storage_purges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("prefix", sa.String(length=1024), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_purges")),
    )
    op.create_index(
        op.f("ix_storage_purges_not_before"), "storage_purges", ["not_before"], unique=False
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column(
            "role",
            sa.Enum("owner", "admin", "member", name="role", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.String(length=36), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["accepted_by"],
            ["users.id"],
            name=op.f("fk_invitations_accepted_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name=op.f("fk_invitations_invited_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_invitations_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index(
        op.f("ix_invitations_workspace_id"), "invitations", ["workspace_id"], unique=False
    )

    with op.batch_alter_table("credit_ledger") as batch_op:
        batch_op.add_column(sa.Column("balance_after", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("job_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("payment_id", sa.String(length=36), nullable=True))
        batch_op.drop_index("ix_credit_ledger_workspace_id")
        batch_op.create_index(
            "ix_credit_ledger_workspace_created", ["workspace_id", "created_at", "id"]
        )
        batch_op.create_foreign_key(
            op.f("fk_credit_ledger_job_id_video_jobs"),
            "video_jobs",
            ["job_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            op.f("fk_credit_ledger_payment_id_payments"),
            "payments",
            ["payment_id"],
            ["id"],
            ondelete="SET NULL",
        )
    _fill_ledger()
    with op.batch_alter_table("credit_ledger") as batch_op:
        batch_op.alter_column("balance_after", existing_type=sa.Integer(), nullable=False)

    with op.batch_alter_table("video_jobs") as batch_op:
        batch_op.add_column(
            sa.Column("input_deleted_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("output_deleted_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_video_jobs_input_retention", ["input_deleted_at", "finished_at"]
        )
        batch_op.create_index(
            "ix_video_jobs_output_retention", ["output_deleted_at", "finished_at"]
        )


def _fill_ledger() -> None:
    # Plain SQL that SQLite and PostgreSQL both run; job ids are 36-character UUIDs and
    # a job's ledger reference is "<job id>:<run>".
    op.execute(
        "UPDATE credit_ledger SET balance_after = ("
        " SELECT SUM(earlier.delta) FROM credit_ledger AS earlier"
        " WHERE earlier.workspace_id = credit_ledger.workspace_id"
        " AND (earlier.created_at < credit_ledger.created_at"
        " OR (earlier.created_at = credit_ledger.created_at AND earlier.id <= credit_ledger.id)))"
    )
    op.execute(
        "UPDATE credit_ledger SET job_id = ("
        " SELECT video_jobs.id FROM video_jobs"
        " WHERE video_jobs.id = substr(credit_ledger.reference, 1, 36))"
        " WHERE reason IN ('job_charge', 'job_refund')"
    )
    op.execute(
        "UPDATE credit_ledger SET payment_id = ("
        " SELECT payments.id FROM payments"
        " WHERE payments.provider_payment_id = credit_ledger.reference)"
        " WHERE reason = 'payment'"
    )


def downgrade() -> None:
    with op.batch_alter_table("video_jobs") as batch_op:
        batch_op.drop_index("ix_video_jobs_output_retention")
        batch_op.drop_index("ix_video_jobs_input_retention")
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("output_deleted_at")
        batch_op.drop_column("input_deleted_at")
    with op.batch_alter_table("credit_ledger") as batch_op:
        batch_op.drop_constraint(
            op.f("fk_credit_ledger_payment_id_payments"), type_="foreignkey"
        )
        batch_op.drop_constraint(op.f("fk_credit_ledger_job_id_video_jobs"), type_="foreignkey")
        batch_op.drop_index("ix_credit_ledger_workspace_created")
        batch_op.create_index("ix_credit_ledger_workspace_id", ["workspace_id"])
        batch_op.drop_column("payment_id")
        batch_op.drop_column("job_id")
        batch_op.drop_column("balance_after")
    op.drop_index(op.f("ix_invitations_workspace_id"), table_name="invitations")
    op.drop_table("invitations")
    op.drop_index(op.f("ix_storage_purges_not_before"), table_name="storage_purges")
    op.drop_table("storage_purges")
