"""The web console: sign-in by one-time link, who sees which cases, and what is refused —
through the real ASGI app (HTTP) and in Debian's headless Chromium."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlmodel import select

from bot.app import App
from messages.catalog import t
from storage.db import transaction
from storage.models import Outbox, WebLogin, WebSession
from storage.roles import Role
from tests.dialog_helpers import Resident
from tests.web_helpers import (
    ELEVATOR,
    HOUSING,
    STALLS,
    chromium,
    file_case,
    link,
    press,
    served,
    sign_in,
    signed_in,
    staff_member,
)
from web.layer import COOKIE
from workflow.followup import INBOX


def test_a_link_signs_in_once_and_its_preview_uses_nothing(
    app: App, client: httpx.Client, people: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    token = link(app, people["housing"])
    assert "登录" in client.get(f"/signin/{token}").text  # a chat's link preview: no session
    first = client.post(f"/signin/{token}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/cases"
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
    assert client.get("/cases").status_code == 200
    client.cookies.clear()
    with caplog.at_level(logging.WARNING):
        again = client.post(f"/signin/{token}", follow_redirects=False)
    assert again.status_code == 403 and "已使用过" in again.text
    assert COOKIE not in again.headers.get("set-cookie", "")
    assert "web sign-in refused: used link" in caplog.text


def test_a_late_or_unknown_link_is_refused(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    token = link(app, people["housing"])
    with transaction(app.sessions) as session:
        for row in session.exec(select(WebLogin)):
            row.expires_at = row.created_at - dt.timedelta(seconds=1)
            session.add(row)
    late = client.post(f"/signin/{token}", follow_redirects=False)
    assert late.status_code == 403 and "已过期" in late.text
    unknown = client.post("/signin/not-a-token", follow_redirects=False)
    assert unknown.status_code == 403 and "无效" in unknown.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/cases"),
        ("GET", "/cases.xlsx"),
        ("GET", "/cases/SQ20261201-0001"),
        ("POST", "/cases/SQ20261201-0001"),  # every action is a POST to its case
        ("GET", "/files/1"),
        ("GET", "/triage"),
        ("GET", "/dashboard"),
        ("GET", "/dashboard.xlsx"),
        ("GET", "/inbox"),
        ("POST", "/signout"),
    ],
)
def test_without_a_session_every_page_leads_to_sign_in(
    client: httpx.Client, method: str, path: str
) -> None:
    response = client.request(method, path, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin"
    client.cookies.set(COOKIE, "forged")
    forged = client.request(method, path, follow_redirects=False)
    assert forged.status_code == 303 and forged.headers["location"] == "/signin"


def test_a_department_sees_its_own_cases_and_another_departments_case_is_not_there(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    mine, theirs = file_case(app, ELEVATOR, "u1"), file_case(app, STALLS, "u2")
    signed_in(client, app, people["housing"])
    ledger = client.get("/cases").text
    assert mine in ledger and theirs not in ledger
    assert client.get(f"/cases/{mine}").status_code == 200
    refused = client.get(f"/cases/{theirs}")
    assert refused.status_code == 404 and STALLS not in refused.text
    client.cookies.clear()
    signed_in(client, app, people["leader"])
    everything = client.get("/cases").text
    assert mine in everything and theirs in everything


def test_a_form_without_its_token_changes_nothing(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    csrf = signed_in(client, app, people["dispatcher"])
    for given in ({}, {"csrf": "wrong"}):
        refused = client.post("/signout", data=given, follow_redirects=False)
        assert refused.status_code == 403 and "未做任何更改" in refused.text
        assert client.get("/cases", follow_redirects=False).status_code == 200
    out = client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/cases", follow_redirects=False).headers["location"] == "/signin"
    with app.sessions() as session:
        assert session.exec(select(WebSession)).one().ended_at is not None


def test_web_in_a_chat_gives_staff_a_link_and_residents_none(app: App) -> None:
    resident = Resident(app.dialog, user_id="r1")
    assert resident.say("/web") == t("staff.web.not_staff")
    with transaction(app.sessions) as session:
        staff_member(session, Role.STAFF, name="张三", department=HOUSING)
    clerk = Resident(app.dialog, user_id="staff-张三")
    answer = clerk.say("/web")
    assert f"{app.settings.server.url}/signin/" in answer and "10分钟" in answer
    with app.sessions() as session:
        assert len(session.exec(select(WebLogin)).all()) == 1


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def test_in_a_browser_staff_sign_in_and_see_the_ledger_on_a_phone(
    app: App, people: dict[str, int], browser: WebDriver
) -> None:
    mine = file_case(app, ELEVATOR, "u1")
    with served(app) as base:
        sign_in(browser, base, app, people["housing"])
        assert browser.find_element(By.ID, "total").text == "共 1 件"
        browser.set_window_size(360, 740)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        viewport = browser.execute_script("return window.innerWidth")
        assert width <= viewport
        press(browser, browser.find_element(By.LINK_TEXT, mine))
        assert browser.find_element(By.ID, "number").text == mine
        press(browser, browser.find_element(By.XPATH, "//button[text()='退出']"))
        assert browser.current_url == f"{base}/signin"
        browser.get(f"{base}/cases")
        assert browser.current_url == f"{base}/signin"


def test_a_departments_inbox_holds_what_its_chat_would_be_told_even_without_one(
    app: App, client: httpx.Client, people: dict[str, int]
) -> None:
    number = file_case(app, ELEVATOR, "u1")  # 住建局 has no chat: its staff are told
    signed_in(client, app, people["housing"])
    mine = client.get("/inbox").text
    assert number in mine and ELEVATOR in mine and f"【{t('card.headline.new')}】" in mine
    client.cookies.clear()
    signed_in(client, app, people["city"])
    assert number not in client.get("/inbox").text
    with app.sessions() as session:  # kept as delivered: no sender ever takes it
        kept = session.exec(select(Outbox).where(Outbox.channel == INBOX)).all()
        assert kept and all(row.sent_at is not None for row in kept)
