"""The mobile page (码上办) under load: residents file appeals through /m over HTTP while the
turns arrive at a steady rate, and each turn's answer (the whole page) is timed.

    .venv/bin/python -m benchmarks.bench_mobile [--rate 50] [--seconds 30]

The app (one process, SQLite, uvicorn) runs in a process of its own so that the load's
client does not share its interpreter; the turn limits are lifted (every resident comes from
127.0.0.1). Each resident: the first visit (the greeting: a turn and a redirect), 我要反映,
the description, 跳过 photos, the phone's location, a phone, 确认提交. A turn is sent every
1/rate s to a resident not waiting for an answer (a new one when all wait).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import statistics
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_telegram import built_app

DESCRIPTION = "小区门口的路灯坏了好几天，晚上很黑，请尽快修理。"
STEPS = ("arrive", "new", "description", "skip photos", "location", "phone", "confirm")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def serve(pipe: Connection) -> None:
    """The app on a free port (sent through `pipe`), until the process is ended."""
    from bot.serve import web_routes
    from bot.web import _server, build_web_app, listen

    with built_app(None) as app:
        web = app.settings.channels.web
        web.browser_turns_per_minute = web.address_turns_per_minute = 10**6
        web.address_browsers_per_hour = 10**6
        sock = listen("127.0.0.1", 0)
        pipe.send(sock.getsockname()[1])
        _server(build_web_app(routes=web_routes(app))).run(sockets=[sock])


class Resident:
    def __init__(self, base: str, number: int, transport: httpx.AsyncHTTPTransport) -> None:
        # One transport for all: a client's own would load the CA certificates (30 ms of CPU).
        self.client = httpx.AsyncClient(base_url=base, timeout=30, transport=transport)
        self.number = number
        self.step = 0
        self.csrf = ""

    async def turn(self) -> str:
        """Take the next step; its name."""
        name = STEPS[self.step]
        if name == "arrive":
            response = await self.client.get("/m", follow_redirects=True)
        else:
            fields: dict[str, Any] = {
                "new": {"text": "我要反映"},
                "description": {"text": DESCRIPTION},
                "skip photos": {"choice": "skip"},
                "location": {"lat": "28.19", "lon": "112.97"},
                "phone": {"text": f"138{self.number:08d}"},
                "confirm": {"choice": "confirm"},
            }[name]
            data = {"csrf": self.csrf, "mid": f"turn{self.number:06d}x{self.step}", **fields}
            response = await self.client.post("/m/say", data=data)
        if response.status_code != 200:
            raise RuntimeError(f"{name}: HTTP {response.status_code}")
        found = CSRF.search(response.text)
        self.csrf = found.group(1) if found else self.csrf
        self.step += 1
        return name


async def load(base: str, rate: float, seconds: float) -> tuple[dict[str, list[float]], int]:
    """Turns at `rate` per second for `seconds`; the milliseconds of each, by step, and how
    many appeals were filed."""
    times: dict[str, list[float]] = {name: [] for name in STEPS}
    ready: list[Resident] = []
    everyone: list[Resident] = []
    running: set[asyncio.Task[None]] = set()

    async def take(resident: Resident) -> None:
        started = time.perf_counter()
        name = await resident.turn()
        times[name].append(1000 * (time.perf_counter() - started))
        if resident.step < len(STEPS):
            ready.append(resident)

    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=200))
    start = time.perf_counter()
    sent = 0
    while time.perf_counter() - start < seconds:
        if not ready:
            everyone.append(Resident(base, len(everyone), transport))
            ready.append(everyone[-1])
        task = asyncio.create_task(take(ready.pop(0)))
        running.add(task)
        task.add_done_callback(running.discard)
        sent += 1
        await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    await asyncio.gather(*running)
    await transport.aclose()
    return times, len(times["confirm"])


def server_cpu(pid: int) -> float:
    """The CPU seconds the server's process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=50.0, help="turns per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(theirs,))
    server.start()
    try:
        base = f"http://127.0.0.1:{ours.recv()}"
        asyncio.run(load(base, args.rate, 3))  # warm up: imports, caches, the first pages
        assert server.pid is not None  # noqa: S101 - started
        started, cpu = time.perf_counter(), server_cpu(server.pid)
        times, filed = asyncio.run(load(base, args.rate, args.seconds))
        elapsed, cpu = time.perf_counter() - started, server_cpu(server.pid) - cpu
    finally:
        server.terminate()
        server.join()
    every = [ms for values in times.values() for ms in values]
    print(
        f"{len(every)} turns in {elapsed:.1f} s ({len(every) / elapsed:.1f}/s), {filed} filed; "
        f"the server's CPU {1000 * cpu / len(every):.1f} ms per turn"
    )
    print("| step | turns | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|")
    for name, values in [*times.items(), ("every turn", every)]:
        if values:
            figures = [statistics.median(values), *(percentile(values, q) for q in (0.9, 0.99))]
            cells = " | ".join(f"{ms:.1f} ms" for ms in [*figures, max(values)])
            print(f"| {name} | {len(values)} | {cells} |")


if __name__ == "__main__":
    main()
