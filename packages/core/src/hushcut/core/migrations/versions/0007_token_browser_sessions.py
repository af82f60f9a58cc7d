"""browser sessions opened with an API token: the token they stand for

A browser can trade an API token for a session (``POST /auth/token``); the session then
reaches only the token's workspace and ends with the token. Existing sessions (signed in
with Google) get NULL: they reach every membership, as before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A batch operation (SQLite recreates the table to add the foreign key): nothing
    # refers to browser_sessions, so the copy cascades to no other table.
    with op.batch_alter_table("browser_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_token_id", sa.String(length=36), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_browser_sessions_api_token_id"), ["api_token_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_browser_sessions_api_token_id_api_tokens"),
            "api_tokens",
            ["api_token_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("browser_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_browser_sessions_api_token_id_api_tokens"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_browser_sessions_api_token_id"))
        batch_op.drop_column("api_token_id")
