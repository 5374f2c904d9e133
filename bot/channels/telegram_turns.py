"""Where a Telegram turn runs: on the event loop, in a thread or in a worker process."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from bot import metrics
from bot.channels.core import Handle
from bot.channels.workers import DialogProcesses
from messages.types import Inbound, Kind, Outbound
from storage.db import Busy


class TurnRunner:
    """On SQLite a turn runs on the event loop itself when it can begin at once: it is all
    CPU then, and a worker thread would fight the loop for the GIL (a turn in a thread cost
    the process half as much CPU again, benchmarks/bench_telegram.py). When another writer
    (the outbox, a sweep) holds the write lock, and for photos (written to disk), the turn
    goes to a worker thread instead, so that waiting there stalls neither polling nor
    sending. One thread: SQLite takes one writer at a time. PostgreSQL turns wait on the
    network: in worker processes if given (bot/channels/workers.py), else in 4 threads (more
    only fight over the GIL: 8 measured slower than 2–4)."""

    def __init__(
        self,
        handle: Handle,
        sessions: sessionmaker[Session],
        processes: DialogProcesses | None,
        workers: int | None,
    ) -> None:
        self.handle = handle
        self.processes = processes
        bind = sessions.kw.get("bind")
        self.inline = bind is not None and bind.dialect.name == "sqlite"
        if workers is None:
            workers = 1 if self.inline else 4
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="telegram-dialog")

    async def start(self) -> None:
        if self.processes is not None:
            await self.processes.start()

    async def close(self) -> None:
        self._executor.shutdown(wait=False)
        if self.processes is not None:
            await asyncio.to_thread(self.processes.close)

    async def run(self, inbound: Inbound) -> list[Outbound]:
        with metrics.turn(inbound.channel):
            return await self._run(inbound)

    async def _run(self, inbound: Inbound) -> list[Outbound]:
        if self.processes is not None:
            return await self.processes.handle(inbound)
        if self.inline and inbound.kind is not Kind.PHOTO:
            with contextlib.suppress(Busy):
                return self.handle(inbound, wait=False)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.handle, inbound)
