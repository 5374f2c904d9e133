"""What a channel adapter needs of the composition root (`bot.app.App` fits)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from bot.settings import Settings
from handlers.types import Inbound, Outbound


class DialogLike(Protocol):
    def handle(self, inbound: Inbound) -> list[Outbound]: ...


class Core(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def dialog(self) -> DialogLike: ...
