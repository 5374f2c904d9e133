"""What a channel adapter needs of the composition root (`bot.app.App` fits)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from bot.settings import Settings
from messages.types import Inbound, Outbound


class Handle(Protocol):
    """`Dialog.handle`: one turn; `wait=False` raises `storage.db.Busy` instead of waiting
    for SQLite's write lock."""

    def __call__(self, inbound: Inbound, *, wait: bool = True) -> list[Outbound]: ...


class DialogLike(Protocol):
    @property
    def handle(self) -> Handle: ...


class Core(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def dialog(self) -> DialogLike: ...
