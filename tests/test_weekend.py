"""诉求直通车 on a fixed weekend clock: the greeting, the duty roster (also through the
Telegram adapter), urgent alerts, and the Monday report with the weekend ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import col, select

from bot.app import App, build
from bot.channels.telegram import TelegramChannel
from bot.settings import Secrets, Settings
from messages.catalog import t
from messages.types import Kind
from nlp.classifier import Classifier
from scheduler.outbox import render
from scheduler.reports import build_report
from storage.db import transaction
from storage.models import Appeal, AppealEvent, Outbox, Person
from storage.roles import Role
from storage.types import utcnow
from tests.dialog_helpers import Resident
from tests.fakebotapi import FakeBotApi
from tests.telegram_helpers import IMMEDIATE, Chat, deliver, file_appeal, invite

SHANGHAI = ZoneInfo("Asia/Shanghai")
SATURDAY = dt.datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def app(settings: Settings, classifier: Classifier, tmp_path: Path) -> Iterator[App]:
    settings.duty.rotation = [["李值班"]]
    settings.duty.leaders = ["赵领导"]
    built = build(settings, Secrets(database_url=f"sqlite:///{tmp_path / 'w.db'}"), classifier)
    yield built
    built.engine.dispose()


@pytest.fixture
def roster(app: App) -> None:
    """The people named in the duty roster, on the console."""
    with transaction(app.sessions) as session:
        session.add_all(
            [
                Person(
                    channel="console",
                    external_id="li",
                    chat_id="li",
                    role="dispatcher",
                    name="李值班",
                ),
                Person(
                    channel="console",
                    external_id="zhao",
                    chat_id="zhao",
                    role="leader",
                    name="赵领导",
                ),
                Person(
                    channel="console",
                    external_id="qian",
                    chat_id="qian",
                    role="leader",
                    name="钱领导",
                ),
            ]
        )


def _file(resident: Resident, text: str) -> str:
    resident.say(text)
    resident.say("跳过")
    resident.say("跳过")
    resident.say("13800138000")
    return resident.say("确认提交")


def _to(app: App, chat_id: str, message: str | None = None) -> list[str]:
    """What the chat was sent (only the `message` if given)."""
    with app.sessions() as session:
        rows = session.exec(
            select(Outbox).where(Outbox.chat_id == chat_id).order_by(col(Outbox.id))
        )
        return [render(row).text for row in rows if message in (None, row.message)]


@pytest.mark.usefixtures("roster")
def test_the_weekend_fast_lane(app: App) -> None:
    with time_machine.travel(SATURDAY, tick=False) as clock:
        resident = Resident(app.dialog)
        assert "诉求直通车" in resident.say("/start")

        answer = _file(resident, IMMEDIATE)
        assert "即办" in answer
        duty = _to(app, "li")
        assert len(duty) == 1 and "诉求直通车·值班处理" in duty[0]

        answer = _file(
            Resident(app.dialog, "u2"),
            "开发商延期交房半年了，房产证也一直办不下来，请住建部门处理",
        )
        assert "2026-12-02 23:59 前给您答复" in answer  # the clock starts on Monday

        answer = Resident(app.dialog, "u3").say("楼道里着火了，浓烟很大，有人被困在楼上")
        assert answer.index("119") < answer.index("编号")  # the advice first, filed at once
        assert any("危及生命" in text for text in _to(app, "zhao"))  # the duty leader, at once
        assert _to(app, "qian") == []  # not every leader: the one on duty
        # urgent on a day off: the duty staff too
        assert len(_to(app, "li", "card.department")) == 2

        clock.move_to(dt.datetime(2026, 11, 30, 18, 0, tzinfo=SHANGHAI))  # Monday's report
        resident.transcript([("路口的井盖被人偷走了，晚上很危险", "照片")])
        with app.sessions() as session:
            report = build_report(
                session,
                period="day",
                now=utcnow(),
                calendar=app.dialog.policy.calendar,
                remind_at=0.75,
            )
            weekend = session.exec(select(Appeal)).all()
    assert report.start == "2026-11-28" and report.end == "2026-11-30"
    assert report.received == len(weekend) == 3 and report.on_days_off == 3


@pytest.mark.usefixtures("roster")
def test_an_urgent_case_alerts_the_duty_leader_on_a_working_day_too(app: App) -> None:
    with time_machine.travel(dt.datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI), tick=False):
        resident = Resident(app.dialog)
        assert "诉求直通车" not in resident.say("/start")
        _file(resident, "楼道里堆满了杂物，消防通道被堵死了")
    assert any("紧急诉求" in text for text in _to(app, "zhao"))
    # on a working day the roster is not involved
    assert _to(app, "li", "card.department") == []


@pytest.mark.usefixtures("roster")
def test_a_danger_to_life_alerts_roster_and_leader_on_a_working_day(app: App) -> None:
    with time_machine.travel(dt.datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI), tick=False):
        resident = Resident(app.dialog)
        resident.say("/start")
        answer = resident.say("楼道里有很浓的煤气味，好像漏气了")
        assert answer.index("不要开关电灯") < answer.index("编号")  # gas advice, then the case
        assert "照片" not in answer.split("编号")[0]  # no step before the advice
        assert any("危及生命" in text for text in _to(app, "zhao"))
        assert any("危及生命" in text for text in _to(app, "li"))  # the roster too, any day
        # The place follows once the resident is safe; it goes to the case.
        assert "已补充到诉求" in resident.send(
            resident.inbound(Kind.LOCATION, latitude=28.1, longitude=112.9)
        )
        with app.sessions() as session:
            appeal = session.exec(select(Appeal)).one()
        assert (appeal.urgency, appeal.disposition, appeal.latitude) == ("life", "immediate", 28.1)


async def test_the_weekend_fast_lane_on_telegram(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    _, channel = bot
    with time_machine.travel(SATURDAY, tick=False):
        duty = Chat(bot, 7300)
        await duty.say(f"/join {invite(app, Role.DISPATCHER)} 李值班")  # the name on the roster
        resident = Chat(bot, 5201)
        assert t("weekend.greeting") in await resident.say("/start")
        assert "即办" in await file_appeal(resident, IMMEDIATE)
        await deliver(app, channel)
        card = duty.last()
        assert "诉求直通车·值班处理" in card["text"] and IMMEDIATE in card["text"]
        assert "已签收" in await duty.press("签收", card)
    with app.sessions() as session:
        appeal = session.exec(select(Appeal)).one()
    assert appeal.status == "signed"


async def test_department_staff_on_the_roster_handle_the_centers_cases_on_days_off(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    _, channel = bot
    duty = Chat(bot, 7301)
    await duty.say(f"/join {invite(app, Role.STAFF, '住建局')} 李值班")  # on the roster
    with time_machine.travel(SATURDAY, tick=False):
        assert "即办" in await file_appeal(Chat(bot, 5202), IMMEDIATE)
        await deliver(app, channel)
        card = duty.last()
        assert "诉求直通车·值班处理" in card["text"]
        number = _the_appeal(app).number
        assert number in await duty.say("/todo")
    with time_machine.travel(SATURDAY + dt.timedelta(days=2), tick=False):  # Monday
        assert "您无权处理" in await duty.press("签收", card)
        assert number not in await duty.say("/todo")
    with time_machine.travel(SATURDAY + dt.timedelta(days=1), tick=False):  # Sunday
        assert "已签收" in await duty.press("签收", card)
        assert "请发送诉求" in await duty.press("办结", duty.last())
        assert "已办结" in await duty.say("已现场清理")
    appeal = _the_appeal(app)
    with app.sessions() as session:
        person = session.exec(select(Person).where(Person.name == "李值班")).one()
        signer = session.exec(
            select(AppealEvent.actor_id).where(AppealEvent.action == "sign")
        ).one()
    assert appeal.status == "resolved" and signer == person.id


def _the_appeal(app: App) -> Appeal:
    with app.sessions() as session:
        return session.exec(select(Appeal)).one()
