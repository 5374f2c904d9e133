"""inbox_update: updates kept from receipt until handled; conversations keyed by chat too

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _conversation(name: str, *, with_chat: bool) -> None:
    key = ["channel", "external_id", *(["chat_id"] if with_chat else [])]
    op.create_table(
        name,
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        *(
            [sa.Column("chat_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False)]
            if with_chat
            else []
        ),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(*key),
    )


def upgrade() -> None:
    op.create_table(
        "inbox_update",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "key"),
    )
    # A conversation so far was a private chat's (chat id = the person's id).
    _conversation("conversation_by_chat", with_chat=True)
    op.execute(
        "INSERT INTO conversation_by_chat (channel, external_id, chat_id, step, data, updated_at) "
        "SELECT channel, external_id, external_id, step, data, updated_at FROM conversation"
    )
    op.drop_table("conversation")
    op.rename_table("conversation_by_chat", "conversation")


def downgrade() -> None:
    _conversation("conversation_by_person", with_chat=False)
    op.execute(
        "INSERT INTO conversation_by_person (channel, external_id, step, data, updated_at) "
        "SELECT channel, external_id, step, data, updated_at FROM conversation "
        "WHERE chat_id = external_id"
    )
    op.drop_table("conversation")
    op.rename_table("conversation_by_person", "conversation")
    op.drop_table("inbox_update")
