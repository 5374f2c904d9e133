"""The send limiter with Telegram's real limits (the default `SendLimits`) on a fake clock:
30 messages a second overall, 1 a second to a private chat and 20 a minute to a group, each
after a burst."""

from __future__ import annotations

import asyncio

import pytest

from bot.channels.sender import RateLimitedSender
from tests.virtual_time import run

GROUP = "-1001"


def _times(chats: list[str]) -> list[float]:
    """When each send goes out (in Telegram time) if one send to each of `chats`, in this
    order, is asked for at once."""

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        sender = RateLimitedSender(clock=loop.time)
        times: dict[int, float] = {}

        async def send(index: int, chat: str) -> None:
            async def post() -> None:
                times[index] = loop.time()

            await sender.call(chat, post)

        await asyncio.gather(*(send(index, chat) for index, chat in enumerate(chats)))
        return [times[index] for index in range(len(chats))]

    return run(main())


def test_a_private_chat_gets_one_message_a_second_after_a_burst() -> None:
    assert _times(["5001"] * 8) == pytest.approx([0, 0, 0, 1, 2, 3, 4, 5])


def test_a_group_gets_twenty_messages_a_minute_after_a_burst() -> None:
    times = _times([GROUP] * 25)
    assert times == pytest.approx([0, 0, 0] + [3.0 * k for k in range(1, 23)])
    assert sum(at < 60 for at in times) == 3 + 19


def test_all_chats_together_get_thirty_messages_a_second() -> None:
    times = _times([str(6000 + i) for i in range(100)])  # a burst of 30, then 30 a second
    assert times == pytest.approx([0.0] * 30 + [k / 30 for k in range(1, 71)])


def test_a_busy_group_does_not_delay_a_private_chat() -> None:
    times = _times([GROUP] * 30 + ["5001", GROUP, "5001"])
    assert times[30] == pytest.approx(0) and times[32] == pytest.approx(0)
    assert times[31] == pytest.approx(3 * (31 - 3))  # the group's 31st waits its turn
