"""The case page and its actions through the real app over HTTP (and a few in Debian's
headless Chromium): what each role sees of a case, photos only for those who may see it, the
phone revealed only by the center and each reveal in the ledger, every action done through
the workflow (ledger written, resident told through the outbox), and forged, replayed or
late forms refused with the reason on the page, changing nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlmodel import col, select

from bot.app import App
from messages import catalog
from messages.catalog import t
from storage.db import transaction
from storage.models import Appeal, AppealEvent, Attachment, Outbox, Person
from storage.roles import Role
from tests.dialog_helpers import PNG, image_bytes, write_png
from tests.web_helpers import (
    CITY,
    ELEVATOR,
    PHONE,
    STALLS,
    chromium,
    file_case,
    press,
    screenshot,
    served,
    sign_in,
    signed_in,
    staff_member,
)
from workflow import service

VAGUE = "我想反映一个情况，希望有关部门管一管"  # → 人工研判
FULL_PHONE, MASKED = "13812345678", "138****5678"


def case_of(app: App, number: str) -> Appeal:
    with app.sessions() as session:
        return session.exec(select(Appeal).where(Appeal.number == number)).one()


def events(app: App, number: str, action: str) -> list[AppealEvent]:
    appeal = case_of(app, number)
    with app.sessions() as session:
        query = select(AppealEvent).where(
            AppealEvent.appeal_id == appeal.id, AppealEvent.action == action
        )
        return list(session.exec(query))


def told(app: App, chat_id: str, message: str) -> list[Outbox]:
    with app.sessions() as session:
        query = select(Outbox).where(Outbox.chat_id == chat_id, Outbox.message == message)
        return list(session.exec(query))


def seen(app: App, number: str) -> str:
    """The form's `seen`: the case's latest ledger event, as the page shows it."""
    with app.sessions() as session:
        appeal = session.exec(select(Appeal).where(Appeal.number == number)).one()
        return str(max(e.id or 0 for e in service.timeline(session, appeal=appeal)))


def act(
    client: httpx.Client,
    app: App,
    csrf: str,
    number: str,
    action: str,
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    **fields: str,
) -> httpx.Response:
    """Post one of the case page's forms as the page would."""
    data = {"csrf": csrf, "seen": seen(app, number), "action": action, **fields}
    return client.post(f"/cases/{number}", data=data, files=files)


def with_phone_place_and_photo(app: App, number: str, *, whistleblowing: bool = False) -> int:
    """The resident gave a phone, a place, their name and a photo; the photo's id."""
    with transaction(app.sessions) as session:
        appeal = session.exec(select(Appeal).where(Appeal.number == number)).one()
        appeal.phone, appeal.whistleblowing = FULL_PHONE, whistleblowing
        appeal.latitude, appeal.longitude, appeal.address = 28.2, 112.9, "东湖小区3栋"
        resident = session.get(Person, appeal.resident_id)
        assert resident is not None
        resident.name = "刘大妈"
        session.add_all([appeal, resident])
        service.attach(session, appeal, app.dialog.desk.files.store_image(PNG))
        session.flush()
        photo = session.exec(select(Attachment).where(Attachment.appeal_id == appeal.id)).one()
        assert photo.id is not None
        return photo.id


def test_a_department_sees_the_case_with_the_phone_masked_and_its_photo(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    number = file_case(app, ELEVATOR)
    photo = with_phone_place_and_photo(app, number)
    signed_in(client, app, people["housing"])
    page = client.get(f"/cases/{number}").text
    assert ELEVATOR in page and MASKED in page and FULL_PHONE not in page
    assert "显示完整号码" not in page and "刘大妈" not in page
    assert "https://uri.amap.com/marker?position=112.9,28.2" in page and "东湖小区3栋" in page
    assert "电梯" in page and "把握度" in page  # the classifier's keywords and confidence
    assert "提交受理" in page and "转交" in page  # the ledger's labels
    assert "签收时限" in page and "办结时限" in page and "答复时限" in page
    assert f'src="/files/{photo}"' in page
    image = client.get(f"/files/{photo}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content[:8] == PNG[:8]
    assert 'id="do-sign"' in page and 'id="do-route"' not in page
    assert "超期" not in page
    with transaction(app.sessions) as session:
        appeal = session.exec(select(Appeal).where(Appeal.number == number)).one()
        appeal.finish_due_at = appeal.created_at - dt.timedelta(minutes=1)
        session.add(appeal)
    assert "🔴超期" in client.get(f"/cases/{number}").text


def test_another_departments_case_and_photo_are_not_found(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    number = file_case(app, ELEVATOR)
    photo = with_phone_place_and_photo(app, number)
    signed_in(client, app, people["city"])
    assert client.get(f"/cases/{number}").status_code == 404
    for path in (f"/files/{photo}", "/files/999999", "/files/x", "/files/99999999999999999999"):
        refused = client.get(path)
        assert refused.status_code == 404 and "没有这件诉求" in refused.text
    client.cookies.clear()
    assert client.get(f"/files/{photo}", follow_redirects=False).headers["location"] == "/signin"
    signed_in(client, app, people["leader"])
    assert client.get(f"/files/{photo}").status_code == 200


def test_the_center_reveals_the_phone_and_each_reveal_is_in_the_ledger(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    number = file_case(app, ELEVATOR)
    with_phone_place_and_photo(app, number)
    csrf = signed_in(client, app, people["dispatcher"])
    page = client.get(f"/cases/{number}").text
    assert MASKED in page and FULL_PHONE not in page and "刘大妈" in page
    assert 'id="reveal"' in page
    refused = client.post(f"/cases/{number}", data={"action": "phone"})
    assert refused.status_code == 403 and FULL_PHONE not in refused.text
    assert events(app, number, "phone_viewed") == []
    revealed = client.post(f"/cases/{number}", data={"csrf": csrf, "action": "phone"})
    assert revealed.status_code == 200 and FULL_PHONE in revealed.text
    assert "查看完整号码" in revealed.text and "王五" in revealed.text  # the ledger line
    [reveal] = events(app, number, "phone_viewed")
    assert reveal.actor_id == people["dispatcher"] and reveal.actor_role == "dispatcher"
    assert case_of(app, number).status == "dispatched"  # reading changes no status
    signed_in(client, app, people["housing"])
    page = client.get(f"/cases/{number}").text
    assert "查看完整号码" in page and FULL_PHONE not in page


def test_a_whistleblowers_identity_is_never_shown_to_the_department(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    number = file_case(app, ELEVATOR)
    with_phone_place_and_photo(app, number, whistleblowing=True)
    earlier = file_case(app, "我们小区的物业一直不处理电梯故障，都已经两周多了")  # same resident
    csrf = signed_in(client, app, people["housing"])
    page = client.get(f"/cases/{number}").text
    assert t("card.phone_secret") in page
    assert "5678" not in page and "刘大妈" not in page and "u1" not in page
    assert earlier not in page  # the same resident's other case would tell who it is
    refused = client.post(f"/cases/{number}", data={"csrf": csrf, "action": "phone"})
    assert refused.status_code == 409 and t("staff.refused.phone") in refused.text
    assert FULL_PHONE not in refused.text
    assert events(app, number, "phone_viewed") == []
    csrf = signed_in(client, app, people["dispatcher"])
    page = client.get(f"/cases/{number}").text
    assert "刘大妈" in page and earlier in page and MASKED in page


def test_a_department_signs_once_and_a_replayed_or_forged_form_changes_nothing(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    number = file_case(app, ELEVATOR)
    csrf = signed_in(client, app, people["housing"])
    form = {"csrf": csrf, "seen": seen(app, number), "action": "sign"}
    for forged in ({**form, "csrf": "wrong"}, {k: v for k, v in form.items() if k != "csrf"}):
        refused = client.post(f"/cases/{number}", data=forged)
        assert refused.status_code == 403 and "未做任何更改" in refused.text
    assert case_of(app, number).status == "dispatched"
    signed = client.post(f"/cases/{number}", data=form)
    assert signed.status_code == 200 and t("staff.signed", number=number) in signed.text
    assert case_of(app, number).status == "signed"
    [sign] = events(app, number, "sign")
    assert sign.actor_id == people["housing"]
    assert len(told(app, "u1", "notify.signed")) == 1
    replayed = client.post(f"/cases/{number}", data=form)
    assert replayed.status_code == 409 and t("staff.refused.stale") in replayed.text
    assert len(events(app, number, "sign")) == 1 and len(told(app, "u1", "notify.signed")) == 1
    again = act(client, app, csrf, number, "sign")  # a fresh form, but signed already
    assert again.status_code == 409 and t("staff.refused.state") in again.text
    csrf = signed_in(client, app, people["city"])  # a form of another department's case
    assert act(client, app, csrf, number, "resolve", result="办好了").status_code == 404
    assert case_of(app, number).status == "signed"


def test_a_department_resolves_with_photos_and_the_resident_is_told(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    number = file_case(app, ELEVATOR)
    csrf = signed_in(client, app, people["housing"])
    early = act(client, app, csrf, number, "resolve", result="已修好")
    assert early.status_code == 409 and t("staff.refused.state") in early.text
    act(client, app, csrf, number, "sign")
    blue = image_bytes("PNG", (30, 30, 200))
    bad: list[tuple[list[tuple[str, tuple[str, bytes, str]]], str]] = [
        ([("photos", ("a.txt", b"not an image", "text/plain"))], catalog.refused("photo_type")),
        (
            [("photos", ("big.png", PNG + bytes(11 * 1024 * 1024), "image/png"))],
            catalog.refused("photo_size", max_mb=10),
        ),
        (
            [("photos", (f"{i}.png", PNG, "image/png")) for i in range(10)],
            catalog.refused("photos", photos=9),
        ),
    ]
    for files, why in bad:
        answer = act(client, app, csrf, number, "resolve", files=files, result="已修好")
        assert answer.status_code == 409 and why in answer.text, why
    empty = act(client, app, csrf, number, "resolve", result=" ")
    assert empty.status_code == 409 and t("staff.refused.note") in empty.text
    assert case_of(app, number).status == "signed"
    photos = [("photos", ("a.png", PNG, "image/png")), ("photos", ("b.png", blue, "image/png"))]
    done = act(client, app, csrf, number, "resolve", files=photos, result="已更换电梯主板")
    assert done.status_code == 200 and t("staff.resolved", number=number) in done.text
    assert case_of(app, number).status == "resolved"
    [resolve] = events(app, number, "resolve")
    assert resolve.note == "已更换电梯主板" and resolve.actor_id == people["housing"]
    [notice] = told(app, "u1", "notify.resolved")
    assert notice.params["note"] == "已更换电梯主板"
    with app.sessions() as session:
        results = session.exec(
            select(Attachment).where(Attachment.kind == "result").order_by(col(Attachment.id))
        ).all()
    assert len(results) == 2
    assert all(client.get(f"/files/{r.id}").status_code == 200 for r in results)
    signed_in(client, app, people["city"])
    assert all(client.get(f"/files/{r.id}").status_code == 404 for r in results)


def test_a_returned_case_waits_in_triage_and_the_dispatcher_routes_it(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    number = file_case(app, ELEVATOR)
    csrf = signed_in(client, app, people["housing"])
    assert client.get("/triage").status_code == 404
    no_reason = act(client, app, csrf, number, "return", reason="")
    assert no_reason.status_code == 409 and t("staff.refused.note") in no_reason.text
    returned = act(client, app, csrf, number, "return", reason="不属于本部门职责")
    assert returned.status_code == 200 and case_of(app, number).status == "returned"
    assert [e.note for e in events(app, number, "return")] == ["不属于本部门职责"]
    csrf = signed_in(client, app, people["leader"])
    assert client.get("/triage").status_code == 404
    forged = act(client, app, csrf, number, "route", department=CITY)
    assert forged.status_code == 409 and t("staff.refused.center_only") in forged.text
    csrf = signed_in(client, app, people["dispatcher"])
    queue = client.get("/triage").text
    assert number in queue and "人工研判" in queue
    page = client.get(f"/cases/{number}").text
    assert "改派" in page and 'id="do-urgent"' in page and 'id="do-merge"' in page
    unknown = act(client, app, csrf, number, "route", department="不存在局")
    assert unknown.status_code == 409 and t("staff.refused.unknown") in unknown.text
    routed = act(client, app, csrf, number, "route", department=CITY)
    assert routed.status_code == 200 and t("staff.routed", number=number, department=CITY) in (
        routed.text
    )
    appeal = case_of(app, number)
    assert appeal.status == "dispatched" and number not in client.get("/triage").text
    assert len(told(app, "u1", "notify.dispatched")) == 1
    signed_in(client, app, people["housing"])
    assert client.get(f"/cases/{number}").status_code == 404
    signed_in(client, app, people["city"])
    assert client.get(f"/cases/{number}").status_code == 200


def test_routing_a_case_a_department_holds_is_refused_and_changes_nothing(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    number = file_case(app, ELEVATOR)
    csrf = signed_in(client, app, people["housing"])
    act(client, app, csrf, number, "sign")
    department = case_of(app, number).department_id
    csrf = signed_in(client, app, people["dispatcher"])
    assert 'id="do-route"' not in client.get(f"/cases/{number}").text
    for action, fields in (("route", {"department": CITY}), ("return", {"reason": "不归我们"})):
        refused = act(client, app, csrf, number, action, **fields)
        assert refused.status_code == 409, action
    assert refused.status_code == 409 and t("staff.refused.forbidden") in refused.text
    appeal = case_of(app, number)
    assert appeal.status == "signed" and appeal.department_id == department
    assert not events(app, number, "dispatch")[1:]


def test_a_triaged_case_is_marked_urgent_and_merged(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    original = file_case(app, ELEVATOR, "u1")
    number = file_case(app, VAGUE, "u2")
    assert case_of(app, number).needs_triage
    with transaction(app.sessions) as session:
        staff_member(session, Role.LEADER, name="钱七").chat_id = "leader-chat"
    csrf = signed_in(client, app, people["dispatcher"])
    assert number in client.get("/triage").text
    urgent = act(client, app, csrf, number, "urgent")
    assert urgent.status_code == 200 and case_of(app, number).urgency == "urgent"
    assert [e.note for e in events(app, number, "urgent")] == ["综治中心调度员标记为紧急"]
    assert len(told(app, "leader-chat", "notify.urgent")) == 1
    wrong = act(client, app, csrf, number, "merge", into=number)
    assert wrong.status_code == 409 and t("staff.refused.merge") in wrong.text
    merged = act(client, app, csrf, number, "merge", into=original.lower())
    assert merged.status_code == 200 and case_of(app, number).status == "merged"
    assert [n.params["note"] for n in told(app, "u2", "notify.merged")] == [original]
    late = act(client, app, csrf, number, "urgent")
    assert late.status_code == 409 and t("staff.refused.state") in late.text
    assert len(events(app, number, "urgent")) == 1


def test_an_extension_is_asked_for_on_the_page_and_decided_by_the_dispatcher(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    number = file_case(app, ELEVATOR)
    csrf = signed_in(client, app, people["housing"])
    act(client, app, csrf, number, "sign")
    wrong = act(client, app, csrf, number, "extend", days="45", reason="需要采购配件")
    assert wrong.status_code == 409 and t("staff.refused.days") in wrong.text
    asked = act(client, app, csrf, number, "extend", days="3", reason="需要采购配件")
    assert asked.status_code == 200 and case_of(app, number).extension_days == 3
    [request] = events(app, number, "extension_request")
    assert request.note == "3个工作日：需要采购配件"
    forged = act(client, app, csrf, number, "decide", approve="yes")
    assert forged.status_code == 409 and t("staff.refused.center_only") in forged.text
    before = case_of(app, number).finish_due_at
    assert before is not None
    csrf = signed_in(client, app, people["dispatcher"])
    assert 'id="do-approve"' in client.get(f"/cases/{number}").text
    approved = act(client, app, csrf, number, "decide", approve="yes")
    assert approved.status_code == 200 and "同意" in approved.text
    after = case_of(app, number)
    assert after.extension_days is None and after.finish_due_at is not None
    assert after.finish_due_at - before >= dt.timedelta(days=3)
    assert len(events(app, number, "extension_approved")) == 1
    again = act(client, app, csrf, number, "decide", approve="no")
    assert again.status_code == 409 and events(app, number, "extension_refused") == []


def test_dispatchers_and_leaders_supervise_and_a_leader_cannot_sign(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    number = file_case(app, ELEVATOR)
    for who in ("dispatcher", "leader"):
        csrf = signed_in(client, app, people[who])
        assert 'id="do-supervise"' in client.get(f"/cases/{number}").text
        done = act(client, app, csrf, number, "supervise")
        assert done.status_code == 200 and t("staff.supervised", number=number) in done.text
    assert [e.actor_role for e in events(app, number, "supervise")] == ["dispatcher", "leader"]
    page = client.get(f"/cases/{number}").text
    assert 'id="do-sign"' not in page
    refused = act(client, app, csrf, number, "sign")
    assert refused.status_code == 409 and t("staff.refused.forbidden") in refused.text
    assert case_of(app, number).status == "dispatched"


# -- in the browser -------------------------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def test_in_a_browser_a_department_signs_and_resolves_with_a_photo(
    app: App, people: dict[str, int], browser: WebDriver, tmp_path: Path
) -> None:
    number = file_case(app, ELEVATOR)
    with_phone_place_and_photo(app, number)
    with served(app) as base:
        sign_in(browser, base, app, people["housing"])
        browser.get(f"{base}/cases/{number}")
        press(browser, browser.find_element(By.ID, "do-sign"))
        assert browser.find_element(By.ID, "status").text == "办理中"
        assert t("staff.signed", number=number) in browser.find_element(By.ID, "notice").text
        browser.set_window_size(1280, 1100)
        screenshot(browser, "case")
        browser.find_element(By.NAME, "result").send_keys("已更换电梯主板，恢复运行")
        browser.find_element(By.NAME, "photos").send_keys(str(write_png(tmp_path)))
        press(browser, browser.find_element(By.ID, "do-resolve"))
        assert browser.find_element(By.ID, "status").text == "已办结"
        images = browser.find_elements(By.CSS_SELECTOR, ".photos img")
        assert len(images) == 2  # the resident's and the result's
        loaded = "return arguments[0].complete && arguments[0].naturalWidth > 0"
        WebDriverWait(browser, 10).until(
            lambda driver: all(driver.execute_script(loaded, image) for image in images)
        )
    [notice] = told(app, "u1", "notify.resolved")
    assert notice.params["note"] == "已更换电梯主板，恢复运行"


def test_in_a_browser_on_a_phone_the_dispatcher_routes_a_case(
    app: App, people: dict[str, int], browser: WebDriver
) -> None:
    number = file_case(app, VAGUE)
    with served(app) as base:
        sign_in(browser, base, app, people["dispatcher"])
        browser.set_window_size(*PHONE)
        press(browser, browser.find_element(By.LINK_TEXT, "人工研判"))
        press(browser, browser.find_element(By.LINK_TEXT, number))
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= browser.execute_script("return window.innerWidth")
        Select(browser.find_element(By.ID, "department")).select_by_value(CITY)
        press(browser, browser.find_element(By.ID, "do-route"))
        assert browser.find_element(By.ID, "status").text == "已转办"
        assert CITY in browser.find_element(By.ID, "timeline").text
    assert case_of(app, number).status == "dispatched"


def test_on_a_day_off_staff_on_the_roster_handle_the_centers_cases_as_in_chat(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    """诉求直通车: on their duty day a department's staff act for the center on the 即办 cases
    it handles itself; on a working day those cases are not theirs."""
    app.dialog.policy.duty.rotation = [["张三"]]  # 住建局's staff member, every day off
    saturday = dt.datetime(2026, 11, 28, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with time_machine.travel(saturday, tick=False):
        number = file_case(app, STALLS)  # 即办: the center handles it itself
        assert case_of(app, number).department_id is None
        csrf = signed_in(client, app, people["housing"])
        assert number in client.get("/cases").text
        signed = act(client, app, csrf, number, "sign")
        assert signed.status_code == 200 and case_of(app, number).status == "signed"
        [sign] = events(app, number, "sign")
        assert sign.actor_id == people["housing"]
        csrf = signed_in(client, app, people["city"])  # not on the roster
        assert client.get(f"/cases/{number}").status_code == 404
    with time_machine.travel(saturday + dt.timedelta(days=2), tick=False):  # Monday
        signed_in(client, app, people["housing"])
        assert number not in client.get("/cases").text
        assert client.get(f"/cases/{number}").status_code == 404
