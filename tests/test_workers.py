"""Dialog worker processes (PostgreSQL's turns) end with the bot's process, however it ends.

The turns themselves through the workers: tests/test_telegram.py.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BOT = """
import asyncio
from pathlib import Path
from bot.channels.workers import DialogProcesses
from bot.settings import load_settings
from storage.db import make_engine, upgrade

async def main() -> None:
    upgrade(make_engine({url!r}))  # as `run` builds its app before it starts the workers
    settings = load_settings(Path({config!r}))
    settings.storage.data_dir = Path({data!r})
    workers = DialogProcesses(settings, {url!r}, 2)
    await workers.start()
    print(*workers.pids, flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; whoever adopted it may not reap it


def test_workers_end_when_the_bot_process_is_killed(tmp_path: Path) -> None:
    script = BOT.format(
        config=str(ROOT / "config.yaml"), data=str(tmp_path), url=f"sqlite:///{tmp_path}/w.db"
    )
    with subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE) as bot:
        assert bot.stdout is not None
        pids = [int(pid) for pid in bot.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        bot.kill()  # no chance to shut its workers down
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)
