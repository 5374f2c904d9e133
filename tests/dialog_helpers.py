"""A resident talking to the dialog through the console adapter, as a transcript."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from sqlmodel import Session, col, select

from bot.app import App
from bot.channels.console import parse_line, render
from handlers.dialog import Dialog
from messages.types import Inbound, Kind, Outbound
from storage.db import transaction
from storage.models import Appeal, Department
from workflow.followup import transition
from workflow.lifecycle import SYSTEM, Action
from workflow.service import department_named


def image_bytes(
    image_format: str, color: tuple[int, int, int] = (200, 30, 30), **save: Any
) -> bytes:
    """A small real image (the store decodes and re-encodes every photo)."""
    out = io.BytesIO()
    Image.new("RGB", (16, 12), color).save(out, image_format, **save)
    return out.getvalue()


PNG = image_bytes("PNG")


@dataclass
class Resident:
    dialog: Dialog
    user_id: str = "u1"
    channel: str = "console"
    last: list[Outbound] = field(default_factory=list)

    def send(self, inbound: Inbound) -> str:
        self.last = self.dialog.handle(inbound)
        return "\n".join(render(reply) for reply in self.last)

    def say(self, line: str) -> str:
        parsed = parse_line(line, user_id=self.user_id)
        assert not isinstance(parsed, str), parsed
        return self.send(parsed)

    def inbound(self, kind: Kind, **fields: object) -> Inbound:
        return Inbound(self.channel, self.user_id, self.user_id, kind, **fields)  # type: ignore[arg-type]

    def photo(self, data: bytes = PNG) -> str:
        return self.send(self.inbound(Kind.PHOTO, data=data))

    def transcript(self, steps: list[tuple[str, str]]) -> None:
        """Each (what the resident types, a fragment the answer must contain)."""
        for line, expected in steps:
            answer = self.say(line)
            assert expected in answer, f"{line!r} -> {answer!r}"


def write_png(directory: Path) -> Path:
    path = directory / "photo.png"
    path.write_bytes(PNG)
    return path


def bound(session: Session, name: str, chat_id: str | None = None) -> Department:
    """The configured department `name`, its chat bound to the console `chat_id` if given."""
    department = department_named(session, name)
    if chat_id is not None:
        department.chat_channel, department.chat_id = "console", chat_id
        session.add(department)
    return department


def file_referral(app: App, resident: Resident, chat: str | None = None) -> str:
    """File the 住建局 text; bind 住建局's chat if given; whatever the classifier decided, the
    appeals not yet dispatched go to 住建局. Returns the new appeal's number."""
    resident.transcript(
        [
            ("我要反映", "描述"),
            ("开发商延期交房半年了，房产证也一直办不下来，请住建部门处理", "照片"),
            ("跳过", "位置"),
            ("跳过", "手机"),
            ("13800138000", "请确认"),
            ("1", "已受理"),
        ]
    )
    with transaction(app.sessions) as session:
        department = bound(session, "住建局", chat)
        for appeal in session.exec(select(Appeal).where(Appeal.status != "dispatched")):
            appeal.disposition, appeal.status, appeal.department_id = (
                "referral",
                "submitted",
                department.id,
            )
            transition(
                session, appeal, Action.DISPATCH, SYSTEM, "住建局", policy=app.dialog.policy
            )
        newest = select(Appeal).order_by(col(Appeal.id).desc()).limit(1)
        return session.exec(newest).one().number
