"""Turns/s and latency of the resident dialog through the Telegram adapter, beside a bare PTB
echo bot, both against the fake Bot API (tests/fakebotapi.py) running in its own process.

    .venv/bin/python -m benchmarks.bench_telegram [--users 50] [--rounds 2] [--webhook]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python -m benchmarks...

A turn is one resident message (text, button press, location or contact) until the bot's
reply reaches the fake server; the fake drives closed-loop residents and measures. The
resident script: /new, description, "skip" photos, location, contact, "confirm" (6 turns).
Telegram's send limits are lifted here (this measures the adapter, not Telegram's 30 msg/s)
unless --real-limits is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.channels.sender import SendLimits
from bot.channels.telegram import TelegramChannel
from bot.settings import Secrets, TelegramSettings, load_settings
from bot.web import build_web_app
from tests.fakebotapi import TOKEN

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"  # noqa: S105 (the local benchmark's webhook secret)
UNLIMITED = SendLimits(
    overall_per_second=1e6, overall_burst=1e6, private_per_second=1e6, private_burst=1e6
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        process.wait(10)


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine("postgresql+psycopg://" + url.removeprefix("postgresql://"))
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def build_app(data_dir: Path, database_url: str) -> Any:
    from bot.app import build  # needs nlp/classifier.py

    settings = load_settings(ROOT / "config.yaml")
    settings.storage.data_dir = data_dir
    return build(settings, Secrets(database_url=database_url))


async def drive(fake: str, **spec: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=600) as client:
        await client.post(f"{fake}/_ctl/reset")
        response = await client.post(f"{fake}/_ctl/bench", json=spec)
        response.raise_for_status()
        return dict(response.json())


@contextlib.asynccontextmanager
async def echo_bot(fake: str) -> AsyncIterator[None]:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None  # noqa: S101
        await update.message.reply_text(update.message.text or "")

    application = (
        Application.builder()
        .token(TOKEN)
        .base_url(f"{fake}/bot")
        .base_file_url(f"{fake}/file/bot")
        .job_queue(None)
        .build()
    )
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


async def run(args: argparse.Namespace) -> None:
    database_url = os.environ.get("DATABASE_URL")
    limits = None if args.real_limits else UNLIMITED
    spec = {"users": args.users, "rounds": args.rounds}
    results: list[tuple[str, dict[str, Any]]] = []
    with (
        fake_server() as fake,
        tempfile.TemporaryDirectory() as tmp,
        contextlib.ExitStack() as stack,
    ):
        if database_url and database_url.startswith("postgresql"):
            url = stack.enter_context(postgres_schema(database_url))
            database = "PostgreSQL"
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            database = "SQLite"
        app = build_app(Path(tmp), url)
        telegram = TelegramSettings(base_url=f"{fake}/bot", base_file_url=f"{fake}/file/bot")

        async with echo_bot(fake):
            results.append(("PTB echo bot (polling)", await drive(fake, script="echo", **spec)))

        channel = TelegramChannel(
            handle=app.dialog.handle,
            sessions=app.sessions,
            token=TOKEN,
            telegram=telegram,
            limits=app.settings.limits,
            send_limits=limits,
        )
        await channel.start()
        try:
            first = 20_000_000
            outcome = await drive(fake, script="resident", first_user=first, **spec)
            results.append((f"resident dialog (polling, {database})", outcome))
        finally:
            await channel.stop()

        if args.webhook:
            import uvicorn

            hook = TelegramChannel(
                handle=app.dialog.handle,
                sessions=app.sessions,
                token=TOKEN,
                telegram=telegram,
                limits=app.settings.limits,
                send_limits=limits,
                webhook=True,
            )
            web = build_web_app(telegram=hook, webhook_secret=SECRET)
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
                outcome = await drive(
                    fake,
                    script="resident",
                    first_user=30_000_000,
                    webhook_url=f"http://127.0.0.1:{port}/telegram",
                    secret=SECRET,
                    **spec,
                )
                results.append((f"resident dialog (webhook, {database})", outcome))
            finally:
                server.should_exit = True
                await task
        app.engine.dispose()

    print(f"{args.users} residents × {args.rounds} rounds, closed loop; send limits "
          f"{'as Telegram' if args.real_limits else 'lifted'}")  # fmt: skip
    print(f"{'':38} {'turns':>6} {'turns/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
    for name, r in results:
        print(
            f"{name:38} {r['turns']:>6} {r['turns_per_second']:>8.1f} {r['p50_ms']:>7.1f} "
            f"{r['p95_ms']:>7.1f} {r['p99_ms']:>7.1f}"
        )
        if "resident" in name and r["completed"] != args.users * args.rounds:
            print(f"  !! only {r['completed']} appeals confirmed; last texts: {r['final_texts']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--webhook", action="store_true", help="also measure webhook mode")
    parser.add_argument("--real-limits", action="store_true", help="keep Telegram's limits")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
