"""The local console channel: a REPL for trying the dialog, also fed from a file or a pipe.

Options are shown numbered; typing the number or the option's text both work.
`/photo PATH` attaches a photo, `/location LAT LON` shares a point, `/as NAME` acts as a
department's staff (or 调度员), `/as` is the resident again, `/quit` leaves.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from messages.catalog import t
from messages.types import Inbound, Kind, Outbound

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


@dataclass
class Console:
    """One terminal for both sides of the loop: a resident (`user_id`), and with `/as NAME`
    a department's staff member or the center's dispatcher, bound through a real invite.

    `pending(user)`: the question a user was left at (after a restart); `deliver()`: send the
    notifications due now (printed here at once, not at the clock's next sweep); `invite(name)`:
    an invite code for staff of that department, or for a dispatcher, None for an unknown name.
    """

    handle: Callable[[Inbound], list[Outbound]]
    pending: Callable[[str], list[Outbound]]
    deliver: Callable[[], object]
    invite: Callable[[str], str | None]
    out: TextIO
    user_id: str = "local"
    resident: str = field(init=False)
    bound: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.resident = self.user_id

    def run(self, lines: Iterable[str], *, echo: bool = False, prompt: bool = False) -> None:
        """Feed each line to the dialog and print its answers until EOF or /quit."""
        self._print([Outbound(t("console.banner")), *self.pending(self.user_id)])
        for line in _prompted(lines, self.out, self._prompt if prompt else None):
            if echo:
                self.out.write(f"> {line.rstrip()}\n")
            if line.strip() == "/quit":
                break
            self._print(self._take(line))
            self.deliver()

    def _prompt(self) -> str:
        return "> " if self.user_id == self.resident else f"[{self.user_id}]> "

    def _take(self, line: str) -> list[Outbound]:
        name, _, args = line.strip().partition(" ")
        if name == "/as":
            return self._become(args.strip())
        parsed = parse_line(line, user_id=self.user_id)
        return [Outbound(parsed)] if isinstance(parsed, str) else self.handle(parsed)

    def _become(self, name: str) -> list[Outbound]:
        if name in ("", t("console.as_resident")):
            self.user_id = self.resident
            return [Outbound(t("console.as_back")), *self.pending(self.user_id)]
        if name not in self.bound:
            code = self.invite(name)
            if code is None:
                return [Outbound(t("console.as_unknown", name=name))]
            joined = self.handle(
                Inbound(CHANNEL, name, name, Kind.COMMAND, text="join", args=f"{code} {name}")
            )
            self.bound.add(name)
            self.user_id = name
            return joined
        self.user_id = name
        return [Outbound(t("console.as_now", name=name)), *self.pending(name)]

    def _print(self, replies: list[Outbound]) -> None:
        for reply in replies:
            self.out.write(render(reply) + "\n")
        self.out.flush()


def _prompted(
    lines: Iterable[str], out: TextIO, prompt: Callable[[], str] | None
) -> Iterator[str]:
    """The lines, each asked for with the prompt first where there is one (a terminal)."""
    iterator = iter(lines)
    while True:
        if prompt is not None:
            out.write(prompt())
            out.flush()
        line = next(iterator, None)
        if line is None:
            return
        yield line


def notify(out: TextIO) -> Callable[[str, Outbound], None]:
    """A sender for outbox notifications addressed to console chats."""

    def send(chat_id: str, reply: Outbound) -> None:
        out.write(f"[通知 → {chat_id}] {render(reply)}\n")
        out.flush()

    return send
