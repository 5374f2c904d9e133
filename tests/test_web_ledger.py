"""The 台账 and its Excel export through the real app over HTTP (and one browser test): each
filter, the counts beside them, sorting, paging, what each role sees, and the file read back."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from typing import Any

import httpx
import openpyxl
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import insert
from sqlmodel import select

from bot.app import App
from messages.catalog import LEDGER_SHEET, t
from storage.db import transaction
from storage.models import Appeal, Person
from storage.roles import Role
from storage.types import utcnow
from tests.web_helpers import (
    ELEVATOR,
    PHONE,
    STALLS,
    chromium,
    console_people,
    file_case,
    press,
    screenshot,
    served,
    sign_in,
    signed_in,
    staff_member,
)
from workflow.followup import deadline_flag
from workflow.service import department_named

THEFT = "我家电动车昨晚在楼下被偷了"  # → 派出所
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NUMBER = re.compile(r"SQ\d{8}-\d{4,6}")


def routed(app: App, number: str) -> dict[str, Any]:
    """How the case numbered `number` was routed: its type, category, disposition, department."""
    with app.sessions() as session:
        appeal = session.exec(select(Appeal).where(Appeal.number == number)).one()
        names = ("appeal_type", "category", "disposition", "department_id")
        return {name: getattr(appeal, name) for name in names}


def _change(app: App, number: str, **fields: Any) -> None:
    with transaction(app.sessions) as session:
        appeal = session.exec(select(Appeal).where(Appeal.number == number)).one()
        for name, value in fields.items():
            setattr(appeal, name, value)
        session.add(appeal)


@pytest.fixture
def cases(any_app: App) -> dict[str, str]:
    """Four cases filed through the dialog, then moved to where each filter has work:
    an overdue one (🔴), one near its deadline (🟡, 举报, urgent), a finished reopened one
    from 40 days ago, and a second 住建局 case reported confidentially (举报)."""
    app, now = any_app, utcnow()
    made = {
        "overdue": file_case(app, ELEVATOR, "u1"),
        "stalls": file_case(app, STALLS, "u2"),
        "theft": file_case(app, THEFT, "u3"),
        "secret": file_case(app, "路灯坏了一个月了，晚上出门很不安全", "u4"),
    }
    _change(
        app,
        made["overdue"],
        status="signed",
        grid="城关第1网格",
        channel="wechat",
        phone="13812345678",
        created_at=now - dt.timedelta(days=3),
        finish_due_at=now - dt.timedelta(hours=1),
    )
    _change(
        app,
        made["stalls"],
        status="resolved",
        reopen_count=1,
        phone="13900001111",
        created_at=now - dt.timedelta(days=40),
    )
    _change(
        app,
        made["theft"],
        status="dispatched",
        urgency="urgent",
        whistleblowing=True,
        created_at=now - dt.timedelta(days=8),
        finish_due_at=now + dt.timedelta(days=1),
    )
    _change(
        app,
        made["secret"],
        text="举报物业违规收费，电梯维修基金去向不明",
        **routed(app, made["overdue"]),
        status="dispatched",
        whistleblowing=True,
        phone="13700002222",
        created_at=now - dt.timedelta(days=1),
        finish_due_at=now + dt.timedelta(days=9),
    )
    return made


@pytest.fixture
def people(any_app: App) -> dict[str, int]:
    return console_people(any_app)


@pytest.fixture
def client(any_app: App) -> Iterator[httpx.Client]:
    with served(any_app) as base, httpx.Client(base_url=base) as client:
        yield client


def listed(client: httpx.Client, query: str) -> list[str]:
    """The case numbers the 台账 lists for `query`, in their order."""
    response = client.get(f"/cases?{query}")
    assert response.status_code == 200, response.text
    body = response.text.split("<tbody>")[1]
    return list(dict.fromkeys(NUMBER.findall(body)))


def department_id(app: App, name: str) -> int:
    with app.sessions() as session:
        found = department_named(session, name).id
        assert found is not None
        return found


def test_each_filter_narrows_the_ledger_to_its_cases(
    any_app: App, client: httpx.Client, cases: dict[str, str], people: dict[str, int]
) -> None:
    signed_in(client, any_app, people["dispatcher"])
    today = dt.datetime.now(SHANGHAI).date()
    with any_app.sessions() as session:
        overdue = session.exec(select(Appeal).where(Appeal.number == cases["overdue"])).one()
    expected = {
        "": {"overdue", "stalls", "theft", "secret"},
        "status=signed": {"overdue"},
        "status=open": {"overdue", "theft", "secret"},
        "status=finished": {"stalls"},
        f"department={department_id(any_app, '住建局')}": {"overdue", "secret"},
        f"appeal_type={overdue.appeal_type}": {"overdue", "secret"},
        f"category={overdue.category}": {"overdue", "secret"},
        "grid=城关第1网格": {"overdue"},
        "channel=wechat": {"overdue"},
        f"disposition={overdue.disposition}&status=open": {"overdue", "theft", "secret"},
        "urgency=urgent": {"theft"},
        "flag=red": {"overdue"},
        "flag=yellow": {"theft"},
        "reopened=1": {"stalls"},
        "whistleblowing=1": {"theft", "secret"},
        f"since={today - dt.timedelta(days=5)}": {"overdue", "secret"},
        f"until={today - dt.timedelta(days=5)}": {"stalls", "theft"},
        f"since={today - dt.timedelta(days=41)}&until={today - dt.timedelta(days=39)}": {"stalls"},
        "text=电梯": {"overdue", "secret"},
        f"text={cases['theft'][-6:]}": {"theft"},
        "text=100%": set(),  # a LIKE wildcard is searched for as itself
        "status=open&whistleblowing=1&urgency=urgent": {"theft"},
    }
    for query, names in expected.items():
        assert set(listed(client, query)) == {cases[name] for name in names}, query
    # 临期/超期 in SQL are workflow.followup.deadline_flag, case by case
    remind_at = any_app.dialog.policy.follow_up.remind_at
    with any_app.sessions() as session:
        flags = {
            a.number: deadline_flag(a, utcnow(), remind_at) for a in session.exec(select(Appeal))
        }
    for flag in ("red", "yellow"):
        assert set(listed(client, f"flag={flag}")) == {n for n, f in flags.items() if f == flag}


def test_sorting_by_time_and_by_deadline(
    any_app: App, client: httpx.Client, cases: dict[str, str], people: dict[str, int]
) -> None:
    signed_in(client, any_app, people["dispatcher"])
    newest = [cases[name] for name in ("secret", "overdue", "theft", "stalls")]
    assert listed(client, "") == newest
    assert listed(client, "sort=oldest") == newest[::-1]
    # nearest deadline first, cases without one last
    deadline = listed(client, "sort=deadline&status=open")
    assert deadline == [cases["overdue"], cases["theft"], cases["secret"]]


def test_counts_beside_each_filter_are_under_the_other_filters(
    any_app: App, client: httpx.Client, cases: dict[str, str], people: dict[str, int]
) -> None:
    signed_in(client, any_app, people["dispatcher"])
    housing = department_id(any_app, "住建局")
    page = client.get(f"/cases?department={housing}&status=signed").text
    assert 'id="total">共 1 件' in page
    # statuses counted within 住建局 (not narrowed by the chosen status) ...
    assert "未办结（2）" in page and "已办结（0）" in page and ">全部（2）" in page
    assert re.search(r'value="signed" selected>办理中（1）', page)
    assert re.search(r'value="dispatched" >已转办（1）', page)
    # ... and departments counted among the signed cases of every department
    assert re.search(rf'value="{housing}" selected>住建局（1）', page)
    assert "🔴超期（1）" in page and "举报（0）" in page


def test_invalid_values_are_ignored_with_a_note(
    any_app: App, client: httpx.Client, cases: dict[str, str], people: dict[str, int]
) -> None:
    signed_in(client, any_app, people["dispatcher"])
    query = "status=bogus&since=2026-13-01&department=abc&flag=green&sort=sideways&page=x"
    response = client.get(f"/cases?{query}&channel=wechat")
    assert response.status_code == 200
    note = re.search(r'<p class="warning" id="ignored">(.*?)</p>', response.text, re.S)
    assert note is not None
    for shown in ("状态“bogus”", "起始日期“2026-13-01”", "部门“abc”", "时限“green”"):
        assert shown in note.group(1)
    assert listed(client, f"{query}&channel=wechat") == [cases["overdue"]]
    assert client.get("/cases.xlsx?until=yesterday").status_code == 200


def test_pages_keep_the_filters(
    any_app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    now = utcnow()
    with transaction(any_app.sessions) as session:
        resident = Person(channel="console", external_id="r")
        session.add(resident)
        session.flush()
        rows = [
            {
                "number": f"SQ20261201-{i:04d}",
                "status": "dispatched",
                "channel": "web" if i % 2 else "wechat",
                "resident_id": resident.id,
                "text": f"路灯不亮 {i}",
                "category": "城乡建设",
                "disposition": "referral",
                "keywords": [],
                "suggestions": [],
                "created_at": now - dt.timedelta(minutes=i),
                "updated_at": now,
            }
            for i in range(1, 111)
        ]
        session.execute(insert(Appeal), rows)
    signed_in(client, any_app, people["dispatcher"])
    first = client.get("/cases?channel=web").text
    assert 'id="total">共 55 件' in first and "第 1 / 2 页" in first
    assert 'href="/cases?channel=web&amp;sort=newest&amp;page=2" rel="next"' in first
    second = listed(client, "channel=web&page=2")
    assert second == [f"SQ20261201-{i:04d}" for i in (101, 103, 105, 107, 109)]
    assert 'rel="prev"' in client.get("/cases?channel=web&page=2").text
    assert len(listed(client, "channel=web&page=99")) == 5  # past the end: the last page


def _sheet(response: httpx.Response) -> Any:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    return book[LEDGER_SHEET["title"]]


def _rows(sheet: Any) -> dict[str, dict[str, Any]]:
    headers = [cell.value for cell in sheet[1]]
    return {
        row[0]: dict(zip(headers, row, strict=True))
        for row in sheet.iter_rows(2, values_only=True)
    }


def test_the_export_is_the_view_with_phones_as_the_role_may_see_them(
    any_app: App, client: httpx.Client, cases: dict[str, str], people: dict[str, int]
) -> None:
    signed_in(client, any_app, people["dispatcher"])
    sheet = _sheet(client.get("/cases.xlsx?status=open&sort=deadline"))
    headers = [cell.value for cell in sheet[1]]
    assert headers[:3] == ["编号", "受理时间", "渠道"] and "联系电话" in headers
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["D"].width == 50 and sheet[1][0].font.b
    rows = _rows(sheet)
    assert list(rows) == [cases["overdue"], cases["theft"], cases["secret"]]  # the view's order
    overdue = rows[cases["overdue"]]
    assert overdue["联系电话"] == "13812345678"  # a dispatcher reads it whole
    assert overdue["时限提示"] == "🔴超期" and overdue["渠道"] == "微信公众号"
    created = overdue["受理时间"]
    assert isinstance(created, dt.datetime) and isinstance(overdue["办结时限"], dt.datetime)
    with any_app.sessions() as session:
        stored = session.exec(select(Appeal).where(Appeal.number == cases["overdue"])).one()
    local = stored.created_at.astimezone(SHANGHAI).replace(tzinfo=None)
    assert abs(created - local) < dt.timedelta(seconds=1)  # the center's wall clock
    assert rows[cases["theft"]]["举报"] == "是"

    signed_in(client, any_app, people["leader"])
    rows = _rows(_sheet(client.get("/cases.xlsx")))
    assert rows[cases["overdue"]]["联系电话"] == "138****5678"
    assert rows[cases["secret"]]["联系电话"] == t("card.phone_secret")


def test_a_department_sees_filters_and_exports_only_its_own_cases(
    any_app: App, client: httpx.Client, cases: dict[str, str], people: dict[str, int]
) -> None:
    signed_in(client, any_app, people["housing"])
    mine = {cases["overdue"], cases["secret"]}
    assert set(listed(client, "")) == mine
    city = department_id(any_app, "城管局")
    assert listed(client, f"department={city}") == []
    assert listed(client, "whistleblowing=1") == [cases["secret"]]
    page = client.get("/cases").text
    assert "城管局" not in page and "举报·保密" in page and ">全部（2）" in page
    rows = _rows(_sheet(client.get(f"/cases.xlsx?department={city}")))
    assert rows == {}
    rows = _rows(_sheet(client.get("/cases.xlsx")))
    assert set(rows) == mine
    assert rows[cases["overdue"]]["联系电话"] == "138****5678"
    assert rows[cases["secret"]]["联系电话"] == t("card.phone_secret")  # 举报: not even masked
    assert all(row["承办部门"] == "住建局" for row in rows.values())


def test_without_a_session_the_export_leads_to_sign_in(client: httpx.Client) -> None:
    response = client.get("/cases.xlsx", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin"


def test_in_a_browser_the_filter_form_on_a_phone(app: App) -> None:
    with transaction(app.sessions) as session:
        dispatcher = staff_member(session, Role.DISPATCHER, name="王五").id
    assert dispatcher is not None
    numbers = [file_case(app, text, f"u{i}") for i, text in enumerate((ELEVATOR, STALLS, THEFT))]
    _change(app, numbers[1], status="resolved")
    with chromium() as browser, served(app) as base:
        sign_in(browser, base, app, dispatcher)
        screenshot(browser, "ledger")  # the README's, on a desk's screen
        browser.set_window_size(*PHONE)
        Select(browser.find_element(By.NAME, "status")).select_by_value("open")
        browser.find_element(By.NAME, "text").send_keys("小区")
        press(browser, browser.find_element(By.XPATH, "//button[text()='筛选']"))
        assert "status=open" in browser.current_url and "text=" in browser.current_url
        assert browser.find_element(By.ID, "total").text == "共 1 件"
        assert browser.find_element(By.LINK_TEXT, numbers[0])
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= browser.execute_script("return window.innerWidth")
        href = browser.find_element(By.ID, "export").get_attribute("href")
        assert href is not None and "/cases.xlsx?status=open" in href
