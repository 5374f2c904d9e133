"""appeal indexes for the 台账: its sort orders, 临期/超期 and each counted filter

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As storage.models.LEDGER_INDEXES at this revision (a migration never imports the models).
COLUMNS = [
    "created_at",
    "category",
    "appeal_type",
    "grid",
    "channel",
    "disposition",
    "urgency",
    "reopen_count",
    "whistleblowing",
]
# ix_appeal_created_at came with 0008.
INDEXES = {
    "ledger_center": ["status", "finish_due_at", "department_id", *COLUMNS],
    "ledger_department": ["department_id", "status", "finish_due_at", *COLUMNS],
    "finish_due_at": ["finish_due_at"],
    "category": ["category"],
    "appeal_type": ["appeal_type"],
    "grid": ["grid"],
    "channel": ["channel"],
    "disposition": ["disposition"],
    "urgency": ["urgency"],
    "reopen_count": ["reopen_count"],
    "whistleblowing": ["whistleblowing"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(f"ix_appeal_{name}", "appeal", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(f"ix_appeal_{name}", table_name="appeal")
