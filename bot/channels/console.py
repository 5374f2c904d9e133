"""The local console channel: a REPL for trying the dialog, also fed from a file or a pipe.

Options are shown numbered; typing the number or the option's text both work.
`/photo PATH` attaches a photo, `/location LAT LON` shares a point, `/quit` leaves.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from handlers.messages import t
from handlers.types import Inbound, Kind, Outbound

CHANNEL = "console"


def parse_line(line: str, *, user_id: str) -> Inbound | str:
    """The Inbound a typed line stands for, or a message saying what is wrong with it."""
    text = line.strip()

    def inbound(kind: Kind, **fields: object) -> Inbound:
        return Inbound(CHANNEL, user_id, user_id, kind, **fields)  # type: ignore[arg-type]

    if not text.startswith("/"):
        return inbound(Kind.TEXT, text=text)
    name, _, args = text[1:].partition(" ")
    if name == "photo":
        try:
            path = Path(shlex.split(args)[0]) if args.strip() else None
        except ValueError:
            path = None
        if path is None:
            return t("console.photo_usage")
        try:
            return inbound(Kind.PHOTO, data=path.expanduser().read_bytes())
        except OSError:
            return t("console.photo_missing", path=path)
    if name == "location":
        try:
            lat, lon = (float(part) for part in args.split())
        except ValueError:
            return t("console.location_usage")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return t("console.location_usage")
        return inbound(Kind.LOCATION, latitude=lat, longitude=lon)
    return inbound(Kind.COMMAND, text=name, args=args.strip())


def render(reply: Outbound) -> str:
    lines = [reply.text]
    lines.extend(f"  {i}. {option.label}" for i, option in enumerate(reply.options, start=1))
    return "\n".join(lines)


def serve(
    handle: Callable[[Inbound], list[Outbound]],
    lines: Iterable[str],
    out: TextIO,
    *,
    user_id: str = "local",
    echo: bool = False,
) -> None:
    """Feed each line to the dialog and print its answers until EOF or /quit."""
    out.write(t("console.banner") + "\n")
    for line in lines:
        if echo:
            out.write(f"> {line.rstrip()}\n")
        if line.strip() == "/quit":
            break
        if not line.strip():
            continue
        parsed = parse_line(line, user_id=user_id)
        replies = [Outbound(parsed)] if isinstance(parsed, str) else handle(parsed)
        for reply in replies:
            out.write(render(reply) + "\n")
        out.flush()


def notify(out: TextIO) -> Callable[[str, Outbound], None]:
    """A sender for outbox notifications addressed to console chats."""

    def send(chat_id: str, reply: Outbound) -> None:
        out.write(f"[通知 → {chat_id}] {render(reply)}\n")
        out.flush()

    return send
