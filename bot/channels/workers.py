"""Dialog turns in worker processes, for PostgreSQL.

A PostgreSQL turn waits on the network, so it cannot run on the event loop; in threads of the
bot's own process the dialog and the loop (PTB's parsing, aiohttp) fought over the GIL, and
the process spent about twice the dialog's own CPU per turn (benchmarks/bench_telegram.py).
Each worker process builds its own App (engine, classifier, dialog) once, from the settings
and the database URL only (no messenger credentials); a turn then costs the bot's process
just the pickling of the `Inbound` and of the replies. SQLite keeps its turns in the bot's
process (see `TelegramChannel`): it takes one writer at a time, and a turn runs on the event
loop when the lock is free, which is cheaper still.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.synchronize import Barrier

from bot import logs, metrics
from bot.app import App, build
from bot.settings import Secrets, Settings
from messages.types import Inbound, Outbound

log = logging.getLogger(__name__)

STARTUP_SECONDS = 120.0  # for all workers to build their App (about a second each)
_APP: dict[str, App] = {}  # in a worker process: its App
_STARTED: dict[str, Barrier] = {}  # ...and the barrier `_ready` meets the others at


def _start(settings: Settings, database_url: str, setup: logs.LogSetup, started: Barrier) -> None:
    parent = os.getppid()
    threading.Thread(target=_exit_with, args=(parent,), name="parent-watch", daemon=True).start()
    logs.configure_like(setup)
    _APP["app"] = build(settings, Secrets(database_url=database_url))
    _STARTED["barrier"] = started


def _exit_with(parent: int) -> None:
    """End this worker once the bot's process is gone, however it went (killed, crashed):
    a worker holds the pool's queue itself, so it would wait for turns forever."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _ready() -> int:
    """Held until every worker runs one: so each of them has started."""
    _STARTED["barrier"].wait(STARTUP_SECONDS)
    return os.getpid()


def _turn(inbound: Inbound) -> list[Outbound]:
    return _APP["app"].dialog.handle(inbound)


class DialogProcesses:
    """`processes` worker processes taking the dialog's turns."""

    def __init__(self, settings: Settings, database_url: str, processes: int) -> None:
        self._start_args = (settings, database_url, logs.current())
        self.processes = processes
        self.pids: set[int] = set()  # of the workers, once started
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # Not fork: the bot's process has threads and an event loop running.
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(
            self.processes,
            mp_context=context,
            initializer=_start,
            initargs=(*self._start_args, context.Barrier(self.processes)),
        )

    async def start(self) -> None:
        """Start every worker now rather than on the first turns (each one loads the
        classifier, about a second)."""
        loop = asyncio.get_running_loop()
        calls = (loop.run_in_executor(self._pool, _ready) for _ in range(self.processes))
        self.pids = set(await asyncio.gather(*calls))
        log.info("%d dialog worker processes started", len(self.pids))

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, _turn, inbound)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): this turn fails, the next get new workers.
            log.error("a dialog worker process died; starting new ones")
            metrics.WORKER_RESTARTS.inc()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool, self.pids = self._new_pool(), set()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def dialog_processes(settings: Settings, database_url: str) -> DialogProcesses | None:
    """Worker processes for a PostgreSQL database, one per core up to 4; None for SQLite,
    whose turns stay in the bot's process."""
    if not database_url.startswith("postgresql"):
        return None
    return DialogProcesses(settings, database_url, min(4, os.cpu_count() or 1))
