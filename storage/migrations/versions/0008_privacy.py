"""audit_log: what was done with personal data; appeal.anonymised_at; appeal by created_at

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("appeal") as batch:
        batch.add_column(
            sa.Column("anonymised_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_index("ix_appeal_created_at", "appeal", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_appeal_created_at", table_name="appeal")
    with op.batch_alter_table("appeal") as batch:
        batch.drop_column("anonymised_at")
    op.drop_table("audit_log")
