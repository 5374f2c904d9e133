"""The web console under test: the real app served on a free port, and Debian's headless
Chromium driven by Selenium (skipped, saying why, where it is not installed; required in CI)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from sqlmodel import Session

from bot.app import App, web_site
from bot.web import build_web_app, listen, serving_in_thread
from storage.db import transaction
from storage.models import Person
from storage.roles import Role
from tests.dialog_helpers import Resident
from web import console
from workflow import signin
from workflow.service import department_named

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REQUIRE_BROWSER = os.environ.get("APPEALBOT_REQUIRE_BROWSER") == "1"
PHONE = (360, 740)  # a phone's viewport, CSS pixels


@contextmanager
def served(app: App) -> Iterator[str]:
    """The app's web console on a free port; yields its base URL."""
    sock = listen("127.0.0.1", 0)
    web = build_web_app(routes=console.routes(web_site(app)))
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


def sign_in(driver: WebDriver, base: str, app: App, person_id: int) -> None:
    """Sign `person` in as they would: open a one-time link and press 登录."""
    with transaction(app.sessions) as session:
        person = session.get(Person, person_id)
        assert person is not None
        token = signin.create_link(session, person)
    driver.delete_all_cookies()
    driver.get(f"{base}/signin/{token}")
    driver.find_element("id", "signin").click()


def file_case(app: App, text: str, user: str = "u1") -> str:
    """A resident files `text` through the dialog (no photo, place or phone); its number."""
    resident = Resident(app.dialog, user_id=user)
    for line in ("我要反映", text, "跳过", "跳过", "跳过"):
        resident.say(line)
    answer = resident.say("确认提交")
    number = re.search(r"SQ\d{8}-\d{4}", answer)
    assert number, answer
    return number.group()


SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def screenshot(driver: WebDriver, name: str) -> None:
    """Save docs/screenshots/NAME.png for the README, only when APPEALBOT_SCREENSHOTS=1."""
    if os.environ.get("APPEALBOT_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
