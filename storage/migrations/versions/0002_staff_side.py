"""staff side: invites, followers, whistleblowing, extensions, suggested departments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:34:57.276813
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "follower",
        sa.Column("appeal_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["appeal_id"], ["appeal.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("appeal_id", "person_id"),
    )
    op.create_table(
        "invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("grid", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("used_by", sqlmodel.sql.sqltypes.AutoString(length=130), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("appeal", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("whistleblowing", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("extension_days", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("suggestions", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("appeal", schema=None) as batch_op:
        batch_op.drop_column("suggestions")
        batch_op.drop_column("extension_days")
        batch_op.drop_column("whistleblowing")

    op.drop_table("invite")
    op.drop_table("follower")
