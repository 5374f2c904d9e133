"""/metrics, /healthz and /readyz of the one web app, read as Prometheus and a load balancer
read them: a resident's real turns through the Telegram adapter, and the database's figures."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import col, select

from bot.app import App
from bot.channels.workers import DialogProcesses
from bot.settings import Settings
from bot.web import build_web_app
from messages.types import Inbound, Kind
from storage.db import make_engine, transaction
from storage.models import Appeal, Outbox, Timer
from storage.types import utcnow
from tests.telegram_helpers import Bot, Chat, file_appeal

Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _parse(text: str) -> Figures:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _get(app: App | None, path: str) -> httpx.Response:
    web = build_web_app(app=app)
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        return await client.get(path)


async def _figures(app: App | None) -> Figures:
    answer = await _get(app, "/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return _parse(answer.text)


def _value(figures: Figures, name: str, **labels: str) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_turns_sends_and_their_failures_are_counted_per_channel(app: App, bot: Bot) -> None:
    fake, _ = bot
    before = await _figures(app)
    fake.flood["sendMessage"] = [0.01]  # one 429
    fake.failures["sendMessage"] = 1  # then one 500
    resident = Chat(bot, 7101)
    assert "SQ" in await file_appeal(resident)
    after = await _figures(app)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("appealbot_turn_seconds_count", channel="telegram") == 6  # file_appeal's turns
    assert grew("appealbot_turn_seconds_sum", channel="telegram") > 0
    assert grew("appealbot_sends_total", channel="telegram") >= 6
    assert grew("appealbot_send_failures_total", channel="telegram", reason="429") == 1
    assert grew("appealbot_send_failures_total", channel="telegram", reason="5xx") == 1
    # The appeal it filed: open at 住建局 within its deadline, and the classifier's confidence.
    assert _value(after, "appealbot_open_cases", department="住建局", deadline="ok") == 1
    assert _value(after, "appealbot_classifier_confidence_gcount") == 1
    assert 0 < _value(after, "appealbot_classifier_confidence_gsum") <= 1


async def test_the_database_figures_show_a_stalled_clock_and_late_cases(app: App) -> None:
    figures = await _figures(app)
    assert _value(figures, "appealbot_timers_due") == 0
    assert _value(figures, "appealbot_outbox_depth", channel="telegram") == 0
    long_ago = utcnow() - dt.timedelta(hours=1)
    steps = ("我要反映", "开发商延期交房半年了，房产证也一直办不下来", "跳过", "跳过", "跳过")
    for text in (*steps, "确认提交"):
        app.dialog.handle(Inbound("console", "r1", "r1", Kind.TEXT, text=text))
    with transaction(app.sessions) as session:
        [appeal] = session.exec(select(Appeal)).all()
        timer = session.exec(select(Timer).order_by(col(Timer.due_at))).first()
        assert appeal.finish_due_at is not None and timer is not None
        # The clock has not run for an hour: a timer came due then; the case is past due.
        timer.due_at = appeal.finish_due_at = long_ago
        session.add_all([timer, appeal])
        session.add(
            Outbox(key="late", channel="telegram", chat_id="1", message="x", created_at=long_ago)
        )
    figures = await _figures(app)
    assert _value(figures, "appealbot_outbox_depth", channel="telegram") == 1
    assert _value(figures, "appealbot_outbox_oldest_age_seconds", channel="telegram") >= 3600
    assert _value(figures, "appealbot_timers_due") >= 1
    assert _value(figures, "appealbot_timers_overdue") == 1
    assert _value(figures, "appealbot_open_cases", department="住建局", deadline="overdue") == 1
    assert _value(figures, "appealbot_open_cases", department="住建局", deadline="ok") == 0


async def test_readyz_asks_the_database_and_healthz_does_not(app: App) -> None:
    ready = await _get(app, "/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ok", "database": True}
    # The same app on a database that does not answer (nothing listens on port 1).
    gone = App(
        app.settings, make_engine("postgresql://127.0.0.1:1/none"), app.sessions, app.dialog
    )
    unready = await _get(gone, "/readyz")
    assert unready.status_code == 503 and unready.json()["database"] is False
    assert (await _get(gone, "/healthz")).status_code == 200


async def test_a_dead_dialog_worker_is_counted_when_restarted(
    settings: Settings, postgres_schema_url: str
) -> None:
    processes = DialogProcesses(settings, postgres_schema_url, 1)
    try:
        await processes.start()
        before = _value(await _figures(None), "appealbot_dialog_worker_restarts_total")
        [pid] = processes.pids
        os.kill(pid, signal.SIGKILL)
        inbound = Inbound("telegram", "1", "1", Kind.TEXT, text="帮助")
        with pytest.raises(Exception, match="terminated abruptly"):
            await asyncio.wait_for(processes.handle(inbound), 60)
        after = _value(await _figures(None), "appealbot_dialog_worker_restarts_total")
        assert after == before + 1
    finally:
        processes.close()
