"""What is being handled, for the log: the channel of the turn and the case it concerns.

Set where a turn is taken (`about(channel=…)`), where the clock takes up a case, and
wherever a case's ledger is written (`concerning(number)`, by `workflow.lifecycle.record`);
`bot.logs` adds both to every line logged meanwhile. Context variables: each thread and
task has its own, so concurrent turns never mix them up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

CHANNEL: ContextVar[str | None] = ContextVar("channel", default=None)
CASE: ContextVar[str | None] = ContextVar("case", default=None)


@contextmanager
def about(*, channel: str | None = None, case: str | None = None) -> Iterator[None]:
    """Within the block, lines are about `channel` and `case` (those given; the others stay
    as they were); a case named inside (`concerning`) is forgotten at its end."""
    channel_token = CHANNEL.set(channel or CHANNEL.get())
    case_token = CASE.set(case or CASE.get())
    try:
        yield
    finally:
        CASE.reset(case_token)
        CHANNEL.reset(channel_token)


def concerning(case: str) -> None:
    """The lines from here on (to the end of the enclosing `about`) are about `case`."""
    CASE.set(case)
