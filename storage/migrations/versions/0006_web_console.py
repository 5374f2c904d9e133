"""web_login and web_session: the web console's one-time sign-in links and its sessions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, storage.types.UTCDateTime(timezone=True), nullable=nullable)


def _hash_and_person() -> list[sa.Column[object]]:
    return [
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "web_login",
        *_hash_and_person(),
        _when("created_at"),
        _when("expires_at"),
        _when("used_at", nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_table(
        "web_session",
        *_hash_and_person(),
        sa.Column("csrf", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        _when("created_at"),
        _when("expires_at"),
        _when("ended_at", nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_web_session_person_id", "web_session", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_web_session_person_id", table_name="web_session")
    op.drop_table("web_session")
    op.drop_table("web_login")
