"""appeal_type: the appeal type a case was routed by (config.yaml `types:`)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("appeal") as batch:
        batch.add_column(
            sa.Column(
                "appeal_type",
                sqlmodel.sql.sqltypes.AutoString(length=50),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("appeal") as batch:
        batch.drop_column("appeal_type")
