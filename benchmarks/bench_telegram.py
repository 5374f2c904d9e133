"""Turns/s and latency of the resident dialog through the Telegram adapter, beside a bare PTB
echo bot, both against the fake Bot API (tests/fakebotapi.py) running in its own process.

    .venv/bin/python -m benchmarks.bench_telegram [--users 50] [--rounds 2] [--rate 50]
        [--repeat 3] [--postgres postgresql://postgres@127.0.0.1:5432/test] [--webhook]
        [--markdown]

(`DATABASE_URL=postgresql://...` works as `--postgres`.) The dialog is measured on SQLite and,
given a PostgreSQL URL, on PostgreSQL too; the echo bot runs in the same process and run,
twice: as PTB builds it (httpx; the issue's baseline) and on our aiohttp transport
(bot/channels/telegram_http.py, which the channel uses), to show the dialog's own cost.
The bots take turns, `--repeat` rounds over: on a shared machine the speed moves by half within
minutes, and this way every bot meets the same minutes. The table shows each bot's median run
(by turns/s in the closed loop, by p99 when paced) and every run's figure; the share of the
echo bot's throughput is the median over the rounds of the dialog's turns/s over the echo bot's
of the same round.

A turn is one resident message (text, button press, location or contact) until the bot's
reply reaches the fake server; the fake drives the residents and measures. The resident
script: /new, description, "skip" photos, location, contact, "confirm" (6 turns; a press is
answered, its keyboard removed, and the reply sent: 10 Bot API calls for 6 turns). Two modes:

- closed loop: each resident sends the next turn as soon as the reply is in; turns/s is the
  most the bot sustains (and latency is mostly queueing behind the other residents);
- paced (`--rate`, turns/s in all; 0 to skip): turns are due at a fixed overall rate whatever
  the replies (a resident still waits for a late reply before its next turn); latency is
  measured from when the turn was due, so lateness is not hidden.

The channel runs as `appealbot run` builds it: on PostgreSQL its turns go to dialog worker
processes (bot/channels/workers.py). "cpu ms" is the bot's CPU time per turn: its process (all
threads) and those workers. Telegram's send limits are lifted here (this measures the adapter,
not Telegram's 30 msg/s) unless --real-limits is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_http import AiohttpRequest
from bot.channels.workers import dialog_processes
from bot.settings import Secrets, SendLimits, TelegramSettings, load_settings
from bot.web import build_web_app
from tests.fakebotapi import TOKEN
from tests.postgres import scratch_schema
from tests.threaded_server import free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"  # noqa: S105 (the local benchmark's webhook secret)
UNLIMITED = SendLimits(
    overall_per_second=1e6, overall_burst=1e6, private_per_second=1e6, private_burst=1e6
)
Result = dict[str, Any]
ECHO = "PTB echo bot (polling)"
ECHO_AIOHTTP = f"{ECHO} on our aiohttp transport"


@contextlib.contextmanager
def fake_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "tests.fakebotapi", "--port", str(port)], cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.post(f"{url}/_ctl/reset", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:  # a connection still open: do not mask an error
            process.kill()
            process.wait()


@contextlib.contextmanager
def built_app(database_url: str | None) -> Iterator[Any]:
    """The bot's App on this database (None: a new SQLite file), built once for all runs."""
    from bot.app import build  # needs nlp/classifier.py

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(ROOT / "config.yaml")
        settings.storage.data_dir = Path(tmp)
        app = build(settings, Secrets(database_url=database_url or f"sqlite:///{tmp}/bench.db"))
        try:
            yield app
        finally:
            app.engine.dispose()


def _cpu_seconds(pids: Iterable[int]) -> float:
    """CPU time so far of this process and of the given other ones (the dialog's workers)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return time.process_time() + ticks / os.sysconf("SC_CLK_TCK")


async def drive(fake: str, workers: Iterable[int] = (), **spec: Any) -> Result:
    """Let the fake's residents loose on the bot; returns the fake's figures and the bot's CPU
    (its process and its dialog workers)."""
    async with httpx.AsyncClient(timeout=600) as client:
        await client.post(f"{fake}/_ctl/reset")
        cpu = _cpu_seconds(workers)
        response = await client.post(f"{fake}/_ctl/bench", json=spec)
        cpu = _cpu_seconds(workers) - cpu
        response.raise_for_status()
        result = dict(response.json())
    result["cpu_ms"] = 1000 * cpu / max(1, result["turns"])
    return result


@contextlib.asynccontextmanager
async def echo_bot(fake: str, *, aiohttp: bool = False) -> AsyncIterator[None]:
    """The bare PTB echo bot: PTB's own httpx transport, or ours (`aiohttp`) for comparison."""

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None  # noqa: S101
        await update.message.reply_text(update.message.text or "")

    builder = (
        Application.builder()
        .token(TOKEN)
        .base_url(f"{fake}/bot")
        .base_file_url(f"{fake}/file/bot")
        .job_queue(None)
    )
    if aiohttp:
        builder = builder.request(AiohttpRequest(connections=8))
        builder = builder.get_updates_request(AiohttpRequest(connections=1))
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    async with application:
        await application.start()
        assert application.updater is not None  # noqa: S101
        await application.updater.start_polling(timeout=10)
        try:
            yield
        finally:
            await application.updater.stop()
            await application.stop()


class Runner:
    """Runs each measurement in both modes and collects the rows of the table."""

    def __init__(self, fake: str, args: argparse.Namespace) -> None:
        self.fake = fake
        self.args = args
        self.rows: list[tuple[str, str, Result]] = []
        self._first_user = 10_000_000

    async def measure(
        self, name: str, script: str, workers: Iterable[int] = (), **extra: Any
    ) -> None:
        args = self.args
        modes: list[tuple[str, float | None]] = [("closed loop", None)]
        if args.rate:
            modes.append((f"paced {args.rate:g}/s", args.rate))
        for mode, rate in modes:
            self._first_user += 1_000_000  # fresh residents for every run
            spec = {"users": args.users, "rounds": args.rounds, "script": script}
            outcome = await drive(
                self.fake, workers, first_user=self._first_user, rate=rate, **spec, **extra
            )
            self.rows.append((name, mode, outcome))
            if script == "resident" and outcome["completed"] != args.users * args.rounds:
                print(
                    f"!! {name}, {mode}: only {outcome['completed']} appeals confirmed; "
                    f"last texts: {outcome['final_texts']}",
                    file=sys.stderr,
                )

    async def dialog(
        self, database: str, app: Any, url: str | None, telegram: TelegramSettings
    ) -> None:
        args = self.args
        if not args.real_limits:
            telegram = telegram.model_copy(update={"limits": UNLIMITED})
        tuning: dict[str, Any] = {}
        if args.workers:
            tuning["workers"] = args.workers
        if args.max_requests:
            tuning["max_requests"] = args.max_requests

        def make(**options: Any) -> TelegramChannel:
            return TelegramChannel(
                handle=app.dialog.handle,
                sessions=app.sessions,
                token=TOKEN,
                telegram=telegram,
                limits=app.settings.limits,
                processes=dialog_processes(app.settings, url) if url else None,
                **tuning,
                **options,
            )

        channel = make()
        await channel.start()
        try:
            name = f"resident dialog (polling, {database})"
            await self.measure(name, "resident", _workers(channel))
        finally:
            await channel.stop()
        if args.webhook:
            await self._webhook(database, make(webhook=True))

    async def _webhook(self, database: str, channel: TelegramChannel) -> None:
        import uvicorn

        web = build_web_app(telegram=channel, webhook_secret=SECRET)
        port = free_port()
        config = uvicorn.Config(
            web, host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.02)
        try:
            await self.measure(
                f"resident dialog (webhook, {database})",
                "resident",
                _workers(channel),
                webhook_url=f"http://127.0.0.1:{port}/telegram",
                secret=SECRET,
            )
        finally:
            server.should_exit = True
            await task


def _workers(channel: TelegramChannel) -> set[int]:
    """The process ids of the channel's dialog workers (PostgreSQL), whose CPU counts too."""
    return channel.processes.pids if channel.processes is not None else set()


def databases(args: argparse.Namespace) -> list[tuple[str, Callable[[], Any]]]:
    """(name, context manager factory yielding the database URL) of each database to run."""
    found: list[tuple[str, Callable[[], Any]]] = [("SQLite", contextlib.nullcontext)]
    if args.postgres:
        found.append(("PostgreSQL", lambda: scratch_schema(args.postgres, "bench")))
    return found


async def run(args: argparse.Namespace) -> list[tuple[str, str, Result]]:
    """Every bot in turn, `--repeat` times over: a slower minute of a shared machine then
    falls on all of them, and the medians compare bots measured at the same times."""
    with fake_server() as fake, contextlib.ExitStack() as stack:
        runner = Runner(fake, args)
        telegram = TelegramSettings(base_url=f"{fake}/bot", base_file_url=f"{fake}/file/bot")
        urls = [
            (database, stack.enter_context(context())) for database, context in databases(args)
        ]
        apps = [(database, url, stack.enter_context(built_app(url))) for database, url in urls]
        for _ in range(args.repeat):
            async with echo_bot(fake):
                await runner.measure(ECHO, "echo")
            async with echo_bot(fake, aiohttp=True):
                await runner.measure(ECHO_AIOHTTP, "echo")
            for database, url, app in apps:
                await runner.dialog(database, app, url, telegram)
    return runner.rows


def _key(mode: str) -> str:
    """What a run is ranked by: turns/s in the closed loop, p99 when paced."""
    return "turns_per_second" if mode == "closed loop" else "p99_ms"


def medians(rows: list[tuple[str, str, Result]]) -> list[tuple[str, str, Result]]:
    """Per bot and mode (first seen order), the median run: by turns/s in the closed loop,
    by p99 when paced; with every run's figure of that kind."""
    runs: dict[tuple[str, str], list[Result]] = {}
    for name, mode, result in rows:
        runs.setdefault((name, mode), []).append(result)
    chosen = []
    for (name, mode), results in runs.items():
        key = _key(mode)
        each = " / ".join(f"{r[key]:.0f}" for r in results)
        median = sorted(results, key=lambda r: float(r[key]))[len(results) // 2]
        chosen.append((name, mode, {**median, "each": each}))
    return chosen


def shares(rows: list[tuple[str, str, Result]], echo: str) -> dict[str, float]:
    """Per dialog, the median over the rounds of its closed-loop turns/s over the `echo` bot's
    of the same round (the bots take turns, so a round's runs met the same machine)."""
    rounds: dict[str, list[float]] = {}
    baseline = [r["turns_per_second"] for n, m, r in rows if n == echo and m == "closed loop"]
    for name, mode, r in rows:
        if mode == "closed loop" and not name.startswith(ECHO):
            ratios = rounds.setdefault(name, [])
            ratios.append(r["turns_per_second"] / baseline[len(ratios)])
    return {name: sorted(ratios)[len(ratios) // 2] for name, ratios in rounds.items()}


def report(args: argparse.Namespace, rows: list[tuple[str, str, Result]]) -> None:
    limits = "as Telegram" if args.real_limits else "lifted"
    print(
        f"{args.users} residents × {args.rounds} rounds × 6 turns; send limits {limits}; "
        f"of {args.repeat} rounds of the bots taking turns, the median run"
    )
    table = medians(rows)
    if args.markdown:
        print(
            "\n| bot | mode | turns/s | p50 ms | p95 ms | p99 ms | cpu ms/turn | late "
            "| each run (turns/s; paced: p99 ms) |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---|")
        for name, mode, r in table:
            print(
                f"| {name} | {mode} | {r['turns_per_second']:.1f} | {r['p50_ms']:.1f} | "
                f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['cpu_ms']:.2f} | {r['late']} | "
                f"{r['each']} |"
            )
    else:
        print(
            f"{'':48} {'mode':<13} {'turns/s':>8} {'p50 ms':>7} {'p95 ms':>7} "
            f"{'p99 ms':>7} {'cpu ms':>6} {'late':>5}  each run"
        )
        for name, mode, r in table:
            print(
                f"{name:48} {mode:<13} {r['turns_per_second']:>8.1f} "
                f"{r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['p99_ms']:>7.1f} "
                f"{r['cpu_ms']:>6.2f} {r['late']:>5}  {r['each']}"
            )
    for name, mode, r in rows:
        if r["lost"]:
            print(f"!! {name}, {mode}: {r['lost']} turns got no reply", file=sys.stderr)
    verdict(rows, table)


def verdict(rows: list[tuple[str, str, Result]], table: list[tuple[str, str, Result]]) -> None:
    """The issue's target: half the bare echo bot's turns/s, and p99 < 100 ms at 50 turns/s.

    The share of the echo bot on our own transport is printed beside it: it tells what the
    dialog costs over a bare bot on the same wire.
    """
    share, same_wire = shares(rows, ECHO), shares(rows, ECHO_AIOHTTP)
    print()
    for name, mode, r in table:
        if name.startswith(ECHO):
            continue
        if mode == "closed loop":
            met = "met" if share[name] >= 0.5 else "NOT met"
            print(
                f"{name}: {share[name]:.0%} of the echo bot's turns/s, median of the rounds "
                f"(target ≥ 50 %: {met}); {same_wire[name]:.0%} of the echo bot on our "
                "aiohttp transport"
            )
        else:
            ok = r["p99_ms"] < 100 and not r["lost"]
            met = "met" if ok else "NOT met"
            print(f"{name}: median p99 {r['p99_ms']:.0f} ms at {mode} (target < 100 ms: {met})")


def postgres_from_env() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of every bot, taking turns (median shown)"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--rate", type=float, default=50.0, help="turns/s of the paced runs (0: none)"
    )
    parser.add_argument(
        "--postgres",
        default=postgres_from_env(),
        help="also measure on this PostgreSQL database (default: $DATABASE_URL)",
    )
    parser.add_argument("--webhook", action="store_true", help="also measure webhook mode")
    parser.add_argument("--real-limits", action="store_true", help="keep Telegram's limits")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--workers", type=int, help="dialog threads (default: the channel's)")
    parser.add_argument(
        "--max-requests", type=int, help="Bot API calls in flight (default: the channel's)"
    )
    args = parser.parse_args()
    report(args, asyncio.run(run(args)))


if __name__ == "__main__":
    main()
