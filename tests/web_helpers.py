"""The web console under test: the real app served on a free port, and Debian's headless
Chromium driven by Selenium (skipped, saying why, where it is not installed; required in CI)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait
from sqlmodel import Session, col, select

from bot.app import App
from bot.serve import web_routes
from bot.web import build_web_app, listen, serving_in_thread
from storage.db import transaction
from storage.models import Person, WebSession
from storage.roles import Role
from tests.dialog_helpers import Resident
from workflow import signin
from workflow.service import department_named

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REQUIRE_BROWSER = os.environ.get("APPEALBOT_REQUIRE_BROWSER") == "1"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PHONE = (360, 740)  # a phone's viewport, CSS pixels
WAIT_SECONDS = 30
# Departments, and texts filed by residents that the classifier routes to them.
HOUSING, CITY = "住建局", "城管局"
ELEVATOR = "我们小区的物业一直不处理电梯故障，已经两周了"  # → 住建局
STALLS = "小区门口有人占道经营摆摊卖菜，堵得车都过不去"  # → 城管局


@contextmanager
def served(app: App) -> Iterator[str]:
    """The app's web pages (the console, the mobile page) on a free port; its base URL."""
    sock = listen("127.0.0.1", 0)
    web = build_web_app(routes=web_routes(app))
    with serving_in_thread(web, sock):
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def chromium() -> Iterator[WebDriver]:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        reason = (
            f"no browser for the web tests: {', '.join(missing)} missing "
            "(apt install chromium chromium-driver)"
        )
        if REQUIRE_BROWSER:
            pytest.fail(reason)
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: WebDriver, name: str) -> None:
    """docs/screenshots/NAME.png for the README, when APPEALBOT_SCREENSHOTS=1."""
    if os.environ.get("APPEALBOT_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def staff_member(
    session: Session, role: Role, *, name: str, department: str | None = None
) -> Person:
    """A person of the center, bound as an invite would bind them."""
    person = Person(
        channel="console",
        external_id=f"{role.value}-{name}",
        role=role.value,
        name=name,
        department_id=department_named(session, department).id if department else None,
    )
    session.add(person)
    session.flush()
    return person


def link(app: App, person_id: int) -> str:
    """A one-time sign-in link's token for the person."""
    with transaction(app.sessions) as session:
        person = session.get(Person, person_id)
        assert person is not None
        return signin.create_link(session, person)


def signed_in(client: httpx.Client, app: App, person_id: int) -> str:
    """Sign in over HTTP as the person (and no one else); the session's form token."""
    client.cookies.clear()
    response = client.post(f"/signin/{link(app, person_id)}", follow_redirects=False)
    assert response.status_code == 303
    with app.sessions() as session:
        query = select(WebSession).where(WebSession.person_id == person_id)
        row = session.exec(query.order_by(col(WebSession.created_at).desc())).first()
        assert row is not None
        return row.csrf


def sign_in(driver: WebDriver, base: str, app: App, person_id: int) -> None:
    """Sign `person` in as they would: open a one-time link and press 登录."""
    token = link(app, person_id)
    driver.delete_all_cookies()
    driver.get(f"{base}/signin/{token}")
    press(driver, driver.find_element(By.ID, "signin"))


def press(driver: WebDriver, element: WebElement) -> None:
    """Click a link or a form's button, and wait until the next page has replaced this one
    and is loaded. (While the pages change, chromedriver may answer for the old page's
    element with another error than "stale", "Node … does not belong to the document": that
    is waited out too.)"""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    wait = WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=[WebDriverException])
    wait.until(staleness_of(page))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def file_case(app: App, text: str, user: str = "u1") -> str:
    """A resident files `text` through the dialog (no photo, place or phone); its number."""
    resident = Resident(app.dialog, user_id=user)
    for line in ("我要反映", text, "跳过", "跳过", "跳过"):
        resident.say(line)
    answer = resident.say("确认提交")
    number = re.search(r"SQ\d{8}-\d{4}", answer)
    assert number, answer
    return number.group()


def console_people(app: App) -> dict[str, int]:
    """The center's people on the console: staff of two departments, a dispatcher, a leader."""
    with transaction(app.sessions) as session:
        made = {
            "housing": staff_member(session, Role.STAFF, name="张三", department=HOUSING),
            "city": staff_member(session, Role.STAFF, name="李四", department=CITY),
            "dispatcher": staff_member(session, Role.DISPATCHER, name="王五"),
            "leader": staff_member(session, Role.LEADER, name="赵六"),
        }
        return {key: person.id for key, person in made.items() if person.id is not None}
