"""Who a person is to the center (no dependencies: the command line's parser uses it)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    RESIDENT = "resident"
    GRID_WORKER = "grid_worker"
    STAFF = "staff"
    DISPATCHER = "dispatcher"
    LEADER = "leader"
    ADMIN = "admin"
    SYSTEM = "system"
