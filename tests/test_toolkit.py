"""The channel adapters' shared parts: lanes and the text splitter."""

from __future__ import annotations

import asyncio

from bot.channels.toolkit import Lanes, split_text


async def test_a_lane_runs_its_jobs_in_order_and_other_lanes_meanwhile() -> None:
    lanes = Lanes()
    log: list[str] = []
    gate = asyncio.Event()

    async def job(key: str, name: str, wait: bool = False) -> None:
        async with lanes.hold(key):
            log.append(f"{name} starts")
            if wait:
                await gate.wait()
            log.append(f"{name} ends")

    first = asyncio.create_task(job("a", "a1", wait=True))
    await asyncio.sleep(0)
    second = asyncio.create_task(job("a", "a2"))
    await asyncio.sleep(0)
    assert lanes.waiting("a") == 1
    await job("b", "b1")  # another chat is not held up by a's slow turn
    assert log == ["a1 starts", "b1 starts", "b1 ends"]
    gate.set()
    await asyncio.gather(first, second)
    assert log[3:] == ["a1 ends", "a2 starts", "a2 ends"]
    assert lanes.waiting("a") == 0 and not lanes._lanes  # lanes end with their last job


def test_a_long_text_is_cut_at_line_ends_within_the_measure() -> None:
    text = "第一行\n" + "长" * 10 + "\n末行"
    assert split_text(text, 100) == [text]
    assert split_text(text, 6) == ["第一行", "长长长长长长", "长长长长", "末行"]
    in_bytes = split_text(text, 12, lambda part: len(part.encode()))
    assert in_bytes == ["第一行", "长长长长", "长长长长", "长长", "末行"]
    assert all(len(part.encode()) <= 12 for part in in_bytes)
