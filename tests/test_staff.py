"""The staff side through the real Telegram adapter and the fake Bot API: departments sign,
return and resolve cases in their group, the dispatcher re-routes, merges and sends 督办, grid
workers report for residents (forwarded messages too) or record a case handled on the spot,
and the resident is told at each step and asked to rate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from bot.app import App, build
from bot.channels.telegram import TelegramChannel
from bot.settings import Secrets, Settings
from messages.catalog import ROLE, t
from nlp.classifier import Classifier
from scheduler.reports import build_report
from scheduler.sweep import Sweeper
from storage.models import Appeal, AppealEvent, Attachment, Person, Timer
from storage.roles import Role
from storage.types import utcnow
from tests.dialog_helpers import PNG
from tests.fakebotapi import FakeBotApi
from tests.telegram_helpers import (
    IMMEDIATE,
    Bot,
    Chat,
    deliver,
    file_appeal,
    invite,
    message_with,
)

HOUSING = "住建局"
GRID = "东湖3网格"
MANHOLE = "巡查发现东湖小区工地夜间施工没有围挡，渣土车撒漏，需要住建部门督促整改"  # a referral


@pytest.fixture
def loop_settings(settings: Settings) -> Settings:
    # Ask for the rating at once and at any hour, so the loop closes within the test.
    settings.follow_up.callback_delay_hours = 0
    settings.follow_up.quiet_start = settings.follow_up.quiet_end = dt.time(0, 0)
    return settings


@pytest.fixture
def app(loop_settings: Settings, classifier: Classifier, tmp_path: Any) -> Iterator[App]:
    built = build(
        loop_settings, Secrets(database_url=f"sqlite:///{tmp_path / 's.db'}"), classifier
    )
    yield built
    built.engine.dispose()


def the_appeal(app: App) -> Appeal:
    with app.sessions() as session:
        return session.exec(select(Appeal)).one()


async def bind_housing(app: App, bot: Bot) -> tuple[Chat, Chat]:
    """住建局's group and one of its staff (in that group); returns (staff in group, private)."""
    member = Chat(bot, 7001, group=-1001)
    assert "已绑定为“住建局”工作群" in await member.say(
        f"/bind {invite(app, Role.STAFF, HOUSING)}"
    )
    private = Chat(bot, 7001)
    assert "绑定成功：部门工作人员 住建局" in await private.say(
        f"/join {invite(app, Role.STAFF, HOUSING)} 张三"
    )
    return member, private


async def bind_center(app: App, bot: Bot) -> Chat:
    """The center's group and a dispatcher (in that group); returns the group."""
    center = Chat(bot, 7100, group=-2001)
    await center.say(f"/bind {invite(app, Role.DISPATCHER)}")
    await Chat(bot, 7100).say(f"/join {invite(app, Role.DISPATCHER)} 调度员")
    return center


async def grid_worker(app: App, bot: Bot) -> Chat:
    """A grid worker of 东湖3网格, joined in a private chat."""
    worker = Chat(bot, 7200)
    assert "网格员 东湖3网格" in await worker.say(
        f"/join {invite(app, Role.GRID_WORKER, grid=GRID)}"
    )
    return worker


async def report(worker: Chat, resident: tuple[str, str] | None = None) -> str:
    """A grid worker's /report with a photo of the problem and no location, for a resident
    (phone, name) or for nobody in particular; returns the summary to confirm."""
    await worker.say("/report")
    await worker.say(MANHOLE)
    worker.fake.files["broken"] = PNG
    await worker.send(worker.updates.photo("broken"))
    await worker.press("完成")
    await worker.say("跳过")  # no location (a reply keyboard on Telegram)
    if resident is None:
        return await worker.press("跳过")
    phone, name = resident
    assert "请输入群众姓名" in await worker.say(phone)
    return await worker.say(name)


async def handle_on_the_spot(worker: Chat, result: str) -> str:
    """已现场处置 at the report's summary: a photo of the result, then the result in words."""
    assert "请先发送现场处置后的照片" in await worker.press("已现场处置")
    assert "至少一张处置后的照片" in await worker.say(result)  # not without a photo
    worker.fake.files["fixed"] = PNG
    assert "已收到照片" in await worker.send(worker.updates.photo("fixed"))
    return await worker.say(result)


async def test_a_case_goes_round_the_whole_loop(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    _, channel = bot
    member, _ = await bind_housing(app, bot)
    outsider = Chat(bot, 7002, group=-1001)
    await Chat(bot, 7002).say(f"/join {invite(app, Role.STAFF, '交通运输局')}")
    resident = Chat(bot, 5101)
    answer = await file_appeal(resident)
    assert "已受理" in answer and HOUSING in answer
    number = the_appeal(app).number

    await deliver(app, channel)
    card = member.last()
    assert (
        number in card["text"]
        and "138****8000" in card["text"]
        and "13800138000" not in card["text"]
    )
    assert set(member.buttons()) == {"签收", "退回", "申请延期", "办结"}

    refused = await outsider.press("签收", card)
    assert "您无权处理这件诉求" in refused
    assert the_appeal(app).status == "dispatched"

    signed = await member.press("签收", card)
    assert f"已签收诉求 {number}" in signed
    assert the_appeal(app).status == "signed"
    after_signing = member.last()
    assert set(member.buttons()) == {"退回", "申请延期", "办结"}
    assert "不能进行此操作" in await member.press("签收", card)  # a second press: no change

    assert "请发送诉求" in await member.press("办结", after_signing)
    assert "已办结" in await member.say("已责令拆除违章搭建并恢复绿地")
    await deliver(app, channel)
    told = resident.fake.texts(resident.chat_id)
    assert any("已由 住建局 签收" in text for text in told)
    assert any("办理结果：已责令拆除违章搭建" in text for text in told)

    assert Sweeper(app.sessions, app.dialog.policy).sweep() >= 1  # the satisfaction callback
    await deliver(app, channel)
    assert "请对办理结果进行评价" in resident.fake.texts(resident.chat_id)[-1]
    assert "感谢您的评价" in await resident.press("满意")
    appeal = the_appeal(app)
    assert (appeal.status, appeal.rating) == ("rated", "满意")


async def test_a_returned_case_is_rerouted_by_the_dispatcher(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    _, channel = bot
    member, _ = await bind_housing(app, bot)
    center = await bind_center(app, bot)
    await file_appeal(Chat(bot, 5102))
    await deliver(app, channel)

    assert "请说明退回" in await member.press("退回", member.last())
    assert "已退回" in await member.say("占道经营属于城管职责，不属于本部门")
    assert the_appeal(app).status == "returned"
    await deliver(app, channel)
    assert "部门退回：占道经营属于城管职责" in center.last()["text"]
    assert "城管局" in await center.press("其他部门")  # the departments to choose from
    assert "已交 城管局 办理" in await center.say("城管局")
    with app.sessions() as session:
        appeal = session.exec(select(Appeal)).one()
        events = [
            e.action
            for e in session.exec(select(AppealEvent).where(AppealEvent.appeal_id == appeal.id))
        ]
    assert appeal.status == "dispatched" and events.count("dispatch") == 2 and "return" in events


async def test_a_resident_cannot_route_cases(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    resident = Chat(bot, 5103)
    await file_appeal(resident)
    number = the_appeal(app).number
    refused = await resident.forge(f"route:{number}:城管局")
    assert refused == t("staff.refused.center_only")
    assert the_appeal(app).department_id is not None
    with app.sessions() as session:
        assert (
            session.exec(select(AppealEvent).where(AppealEvent.action == "dispatch")).all()[0].note
            == HOUSING
        )


async def test_a_duplicate_is_merged_and_its_resident_told(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    _, channel = bot
    center = await bind_center(app, bot)
    first, second = Chat(bot, 5104), Chat(bot, 5105)
    await file_appeal(first)
    await file_appeal(second, "小区里有人违章搭建，占用公共绿地，请住建部门尽快拆除")
    with app.sessions() as session:
        earlier, later = session.exec(select(Appeal).order_by(Appeal.id)).all()
    # The dispatcher's card for the later case, as the center chat shows it.
    message = message_with(center, "合并重复件", f"merge:{later.number}")
    assert "要并入的原诉求编号" in await center.press("合并重复件", message)
    assert f"已并入 {earlier.number}" in await center.say(earlier.number)
    await deliver(app, channel)
    assert f"并入 {earlier.number}" in second.fake.texts(second.chat_id)[-1]
    with app.sessions() as session:
        merged = session.get(Appeal, later.id)
        assert merged is not None and (merged.status, merged.merged_into_id) == (
            "merged",
            earlier.id,
        )


async def test_a_grid_worker_reports_for_a_resident(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    worker = await grid_worker(app, bot)
    summary = await report(worker, ("13900001111", "王大爷"))
    assert "代群众反映：王大爷" in summary and "139****1111" in summary
    assert "已受理" in await worker.press("确认提交")
    with app.sessions() as session:
        appeal = session.exec(select(Appeal)).one()
        resident = session.get(Person, appeal.resident_id)
        reporter = session.get(Person, appeal.reporter_id)
    assert appeal.grid == GRID and appeal.phone == "13900001111"
    assert resident is not None and (resident.channel, resident.name) == ("phone", "王大爷")
    assert reporter is not None and reporter.role == "grid_worker"


async def test_only_grid_workers_report(app: App, bot: tuple[FakeBotApi, TelegramChannel]) -> None:
    assert "仅限网格员" in await Chat(bot, 5106).say("/report")


async def test_a_grid_worker_records_a_case_handled_on_the_spot(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    _, channel = bot
    await Chat(bot, 7300).say(f"/join {invite(app, Role.LEADER)}")  # told of urgent cases
    worker = await grid_worker(app, bot)
    await report(worker)  # for nobody in particular: the worker stands as the case's resident
    told = await handle_on_the_spot(worker, "已当场更换新井盖，现场已清理")
    appeal = the_appeal(app)
    assert told == t("grid.onsite_recorded", number=appeal.number)
    policy = app.dialog.policy
    with app.sessions() as session:
        events = session.exec(select(AppealEvent).order_by(col(AppealEvent.id))).all()
        photos = session.exec(select(Attachment).order_by(col(Attachment.id))).all()
        timers = session.exec(select(Timer)).all()
        day = build_report(
            session,
            period="day",
            now=utcnow(),
            calendar=policy.calendar,
            remind_at=policy.follow_up.remind_at,
        )
    # Nobody to call back: closed with the result at once.
    assert (appeal.status, appeal.grid, appeal.department_id) == ("closed", GRID, None)
    assert [(e.action, e.actor_role, e.note) for e in events] == [
        ("submit", "grid_worker", None),
        ("assign", "system", None),
        ("resolve", "grid_worker", "已当场更换新井盖，现场已清理"),
        ("close", "system", t("note.no_callback")),
    ]
    # The problem's photo, then the result's, kept like a department's 办结 photos.
    assert [p.kind for p in photos] == ["photo", "result"]
    # The classifier said referral (住建局); handled on the spot counts as handled at once.
    assert appeal.disposition == "immediate" and day.by_disposition == {"immediate": 1}
    # Resolved as it was filed: no deadline to watch, no alarm for the (urgent) danger that is
    # gone, and the worker is neither told of their own result nor asked to rate their work.
    assert timers == []
    assert await deliver(app, channel) == 0
    assert Sweeper(app.sessions, policy).sweep() == 0


async def test_a_patrol_report_resolved_by_the_department_closes_without_a_rating(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    fake, channel = bot
    member, _ = await bind_housing(app, bot)
    worker = await grid_worker(app, bot)
    await report(worker)  # for nobody in particular: the worker stands as the case's resident
    assert "已受理" in await worker.press("确认提交")
    await deliver(app, channel)
    card = member.last()
    await member.press("签收", card)
    await member.press("办结", member.last())
    assert "已办结" in await member.say("已更换井盖")
    await deliver(app, channel)
    appeal = the_appeal(app)
    with app.sessions() as session:
        kinds = [timer.kind for timer in session.exec(select(Timer))]
        last = session.exec(select(AppealEvent).order_by(col(AppealEvent.id).desc())).first()
    # The worker hears the result, but satisfaction is asked of the public only.
    assert any("办理结果：已更换井盖" in text for text in fake.texts(worker.chat_id))
    assert appeal.status == "closed" and "callback" not in kinds
    assert last is not None and (last.action, last.note) == ("close", t("note.no_callback"))
    assert not any("评价" in text for text in fake.texts(worker.chat_id))


async def test_the_resident_named_in_an_on_the_spot_report_is_called_back(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    _, channel = bot
    worker = await grid_worker(app, bot)
    await report(worker, ("13900001111", "王大爷"))
    await handle_on_the_spot(worker, "已当场更换新井盖，现场已清理")
    appeal = the_appeal(app)
    with app.sessions() as session:
        assert [timer.kind for timer in session.exec(select(Timer))] == ["callback"]
    assert await deliver(app, channel) == 0  # nothing for the worker
    assert Sweeper(app.sessions, app.dialog.policy).sweep() == 1
    with app.sessions() as session:
        called = session.exec(select(AppealEvent).where(AppealEvent.action == "unreachable"))
        # Known by phone only: the callback puts the resident on the center's phone list.
        assert [e.appeal_id for e in called] == [appeal.id]
    assert await deliver(app, channel) == 0


async def test_a_forwarded_message_starts_a_report_with_its_text(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    worker = await grid_worker(app, bot)
    text = "我家楼下的路灯坏了一个多月了，晚上黑漆漆的很不安全"
    # The text is the description already: the report goes on to the photos.
    assert "如有现场照片" in await worker.send(worker.updates.forwarded(text, "王大爷"))
    await worker.press("跳过")
    await worker.say("跳过")
    summary = await worker.press("跳过")
    assert f"内容：{text}" in summary and "代群众反映" in summary
    assert "已受理" in await worker.press("确认提交")
    appeal = the_appeal(app)
    with app.sessions() as session:
        reporter = session.get(Person, appeal.reporter_id)
    assert (appeal.text, appeal.grid) == (text, GRID)
    assert reporter is not None and reporter.external_id == str(worker.chat_id)


async def test_an_extension_is_asked_for_and_approved(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    _, channel = bot
    member, _ = await bind_housing(app, bot)
    center = await bind_center(app, bot)
    await file_appeal(Chat(bot, 5107))
    before = the_appeal(app).finish_due_at
    await deliver(app, channel)
    assert "需要延期几个工作日" in await member.press("申请延期", member.last())
    assert "需要延期几个工作日" in await member.say("四十")  # not a number of days: asked again
    assert "请说明延期理由" in await member.say("2")
    assert "等待综治中心审批" in await member.say("需要等业主委员会开会表决")
    await deliver(app, channel)
    assert "申请延期 2 个工作日" in center.last()["text"]
    request = center.last()
    assert "已同意" in await center.press("同意延期", request)
    after = the_appeal(app).finish_due_at
    assert before is not None and after is not None
    # Two working days later (the deadline fell on a Wednesday, or later in the week).
    assert dt.timedelta(days=2) <= after - before <= dt.timedelta(days=4)
    await deliver(app, channel)
    assert "延期申请已同意" in member.fake.texts(member.chat_id)[-1]
    assert "不能进行此操作" in await center.press("同意延期", request)  # nothing pending now


async def test_a_resident_who_blocked_the_bot_goes_on_the_phone_list(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    fake, channel = bot
    member, _ = await bind_housing(app, bot)
    resident = Chat(bot, 5108)
    await file_appeal(resident)
    await deliver(app, channel)
    fake.blocked.add(str(resident.chat_id))
    await member.press("签收", member.last())
    await deliver(app, channel)  # the "signed" notice cannot reach them
    with app.sessions() as session:
        person = session.exec(select(Person).where(Person.external_id == "5108")).one()
        noted = session.exec(select(AppealEvent).where(AppealEvent.action == "unreachable")).all()
    assert person.unreachable and [e.note for e in noted] == [t("outbox.undeliverable")]
    assert await deliver(app, channel) == 0  # given up, not retried


def _supervisions(app: App) -> list[tuple[int, str, str | None]]:
    with app.sessions() as session:
        events = session.exec(select(AppealEvent).where(AppealEvent.action == "supervise"))
        return [(e.appeal_id, e.actor_role, e.note) for e in events]


async def test_the_dispatcher_supervises_a_case_from_the_todo_list(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    _, channel = bot
    member, private = await bind_housing(app, bot)
    dispatcher = Chat(bot, 7100)
    await dispatcher.say(f"/join {invite(app, Role.DISPATCHER)} 调度员")
    await file_appeal(Chat(bot, 5109))
    await file_appeal(Chat(bot, 5110), IMMEDIATE)
    with app.sessions() as session:
        referred, immediate = session.exec(select(Appeal).order_by(col(Appeal.id))).all()
    assert (referred.status, immediate.status) == ("dispatched", "assigned")
    await deliver(app, channel)  # the card to 住建局's group
    supervise = f"supervise:{referred.number}"

    # The department's own staff cannot send themselves a 督办, even with a forged button.
    assert await private.forge(supervise) == t("staff.refused.supervise")
    assert _supervisions(app) == [] and await deliver(app, channel) == 0
    await private.say("/todo")
    assert "督办" not in str(private.buttons())
    assert "督办" not in await private.press(f"办理 {referred.number}")
    assert "督办" not in str(private.buttons())

    todo = await dispatcher.say("/todo")
    assert referred.number in todo and immediate.number in todo
    assert dispatcher.buttons() == {
        f"办理 {number}": f"open:{number}" for number in (referred.number, immediate.number)
    }
    # Only the case a department holds: the center's own 即办 case has no 督办 button.
    await dispatcher.press(f"办理 {immediate.number}")
    assert "督办" not in dispatcher.buttons()
    await dispatcher.say("/todo")
    await dispatcher.press(f"办理 {referred.number}")
    assert dispatcher.buttons()["督办"] == supervise
    assert "已向承办部门发出督办" in await dispatcher.press("督办")
    assert await deliver(app, channel) == 1
    assert member.fake.texts(member.chat_id)[-1] == t(
        "notify.supervise", number=referred.number, category=referred.category
    )
    # A forged 督办 on the 即办 case reaches no department, so it is refused.
    assert "不能进行此操作" in await dispatcher.forge(f"supervise:{immediate.number}")

    # A leader's 督办 is recorded as the leader's.
    leader = Chat(bot, 7300)
    await leader.say(f"/join {invite(app, Role.LEADER)} 李主任")
    await leader.say("/todo")
    await leader.press(f"办理 {referred.number}")
    assert set(leader.buttons()) == {"督办"}  # a leader neither routes nor handles cases
    assert "已向承办部门发出督办" in await leader.press("督办")
    assert _supervisions(app) == [
        (referred.id, "dispatcher", t("note.supervise", role=ROLE["dispatcher"])),
        (referred.id, "leader", t("note.supervise", role=ROLE["leader"])),
    ]


async def test_a_question_asked_in_the_group_is_answered_in_the_group_only(
    app: App, bot: tuple[FakeBotApi, TelegramChannel]
) -> None:
    """Conversations are per chat: a staff member asked for a return reason in the
    department's group can still use the bot in their private chat meanwhile."""
    _, channel = bot
    member, private = await bind_housing(app, bot)
    await file_appeal(Chat(bot, 5104))
    await deliver(app, channel)
    assert "请说明退回" in await member.press("退回", member.last())
    answer = await private.say("我要反映")
    assert "请用文字描述" in answer and "已退回" not in answer
    assert the_appeal(app).status == "dispatched"
    assert "已退回" in await member.say("占道经营属于城管职责，不属于本部门")
    assert the_appeal(app).status == "returned"
