"""码上办, the residents' mobile page: the resident dialog over HTTP through the real app —
who the browser is, a poster's grid, bad input, form tokens, limits, opening a case from
another device; and in Debian's headless Chromium at a phone's size."""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait
from sqlmodel import select

from bot.app import App
from bot.settings import Settings
from messages.catalog import t
from scheduler.sweep import Sweeper
from storage.db import transaction
from storage.models import Appeal, Attachment, Follower, Outbox
from storage.roles import Role
from tests.dialog_helpers import PNG, Resident, image_bytes
from tests.web_helpers import PHONE as PHONE_SIZE
from tests.web_helpers import chromium, screenshot, served, staff_member
from web.mobile import COOKIE
from workflow import privacy, staff
from workflow.lifecycle import Actor

ELEVATOR = "我们小区的物业一直不处理电梯故障，已经两周了"  # → 住建局
VILLAGE = "村里的土地流转费一直没有发下来，村委会也不给个说法"  # → the grid's township
PHONE = "13900139000"
BLUE = image_bytes("PNG", (20, 40, 200))


class Phone:
    """A resident's browser over HTTP: its cookies and the page it last got."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.page = ""
        self.status = 0
        self.token = ""  # the form token of the pages it got

    def _keep(self, response: httpx.Response) -> httpx.Response:
        self.page, self.status = html.unescape(response.text), response.status_code
        found = re.search(r'name="csrf" value="([^"]+)"', self.page)
        self.token = found.group(1) if found else self.token
        return response

    def visit(self, path: str = "/m") -> httpx.Response:
        return self._keep(self.client.get(path, follow_redirects=True))

    def csrf(self) -> str:
        assert self.token, self.page
        return self.token

    def post(self, path: str = "/m/say", **fields: Any) -> httpx.Response:
        files = fields.pop("files", None)
        data = {"csrf": self.csrf(), "mid": secrets.token_hex(8), **fields}
        return self._keep(self.client.post(path, data=data, files=files, follow_redirects=True))

    def say(self, text: str) -> str:
        self.post(text=text)
        return self.latest()

    def choose(self, label: str) -> str:
        pattern = rf'name="(choice|text)" value="([^"]+)">{re.escape(label)}</button>'
        found = re.search(pattern, self.page)
        assert found, f"no option {label!r} in {self.page}"
        self.post(**{found.group(1): found.group(2)})
        return self.latest()

    def photos(self, *images: bytes) -> str:
        self.post(files=[("photo", (f"p{i}.jpg", data)) for i, data in enumerate(images)])
        return self.latest()

    def latest(self) -> str:
        """The messages after the resident's own last bubble, with their buttons: this
        turn's answer."""
        chat = self.page.split('<div id="compose">')[0]
        answer: list[str] = []
        for bubble in chat.split('<div class="msg')[1:]:
            text = re.sub(r"<[^>]+>", "", bubble.partition(">")[2])
            answer = [] if bubble.startswith(" mine") else [*answer, text]
        return "\n".join(answer)


@pytest.fixture
def base(app: App) -> Iterator[str]:
    with served(app) as url:
        yield url


@pytest.fixture
def phone(base: str) -> Iterator[Phone]:
    with httpx.Client(base_url=base) as client:
        yield Phone(client)


def another(base: str) -> httpx.Client:
    return httpx.Client(base_url=base)


def file_on(phone: Phone, text: str = ELEVATOR, number: str | None = PHONE) -> str:
    """File `text` from the page (no photo or place); its number."""
    phone.visit()
    phone.choose(t("menu.new"))
    phone.say(text)
    phone.choose(t("option.skip"))
    phone.choose(t("option.skip"))
    phone.say(number) if number else phone.choose(t("option.skip"))
    answer = phone.choose(t("option.confirm"))
    found = re.search(r"SQ\d{8}-\d{4}", answer)
    assert found, answer
    return found.group()


def test_a_first_visit_keeps_the_browser_and_greets_it(phone: Phone) -> None:
    first = phone.visit()
    cookie = first.history[0].headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Max-Age=34560000" in cookie  # 400 days
    assert t("welcome", center="示范区综治中心") in phone.page
    assert t("menu.new") in phone.page and t("web.font_big") in phone.page
    again = phone.visit()
    assert not again.history  # known: no new cookie, no second greeting
    assert phone.page.count(t("welcome", center="示范区综治中心")) == 1


def test_a_posters_grid_fills_the_grid_and_township_and_the_case_is_on_the_web(
    app: App, phone: Phone
) -> None:
    phone.visit("/m/dh3")
    assert t("grid.entered", grid="东湖3网格") in phone.page
    number = file_on(phone, VILLAGE)
    with app.sessions() as session:
        appeal = session.exec(select(Appeal).where(Appeal.number == number)).one()
        assert (appeal.channel, appeal.grid, appeal.phone) == ("web", "东湖3网格", PHONE)
    assert "东湖街道" in phone.page
    unknown = phone.visit("/m/nosuchgrid")
    assert unknown.status_code == 200 and "nosuchgrid" not in phone.page


def test_a_deep_link_places_a_telegram_or_console_resident_in_the_grid_too(app: App) -> None:
    resident = Resident(app.dialog)
    assert t("grid.entered", grid="东湖3网格") in resident.say("/start grid_dh3")
    resident.say(VILLAGE)
    for line in ("跳过", "跳过", "跳过"):
        resident.say(line)
    assert "东湖街道" in resident.say("确认提交")


def test_bad_input_is_answered_as_on_the_other_channels(app: App, phone: Phone) -> None:
    phone.visit()
    phone.choose(t("menu.new"))
    assert t("bad.no_content") in phone.say("😀😀😀😀😀")
    assert t("bad.too_short", min=5) in phone.say("电梯")
    phone.say(ELEVATOR)
    assert t("bad.photo_type") in phone.photos(b"%PDF-1.4 not a photo")
    files = app.dialog.desk.files
    files.max_bytes, cap = 16, files.max_bytes  # the store's check: the page's cap is above
    assert t("bad.photo_size", max_mb=cap // (1024 * 1024)) in phone.photos(BLUE)
    files.max_bytes = cap
    assert t("bad.not_photo") in phone.say("没有照片")
    assert t("photo.received", count=1) in phone.photos(PNG)
    assert t("photo.again") in phone.photos(PNG)
    phone.choose(t("option.done"))
    assert t("bad.location_far") in phone.post(lat="48.85", lon="2.35").text
    assert t("bad.location", max=200) in phone.say("3")
    phone.choose(t("option.skip"))
    assert t("bad.phone", value="12345") in phone.say("12345")
    phone.post(choice="forged")
    assert t("option_expired") in phone.latest()


@pytest.fixture
def small(settings: Settings) -> Settings:
    settings.limits.photos_per_appeal, settings.limits.photo_max_bytes = 2, 1024 * 1024
    return settings


def test_a_post_over_the_photos_cap_is_refused_unread(small: Settings, phone: Phone) -> None:
    phone.visit()
    phone.choose(t("menu.new"))
    phone.say(ELEVATOR)
    huge = [("photo", (f"{i}.jpg", b"\xff" * 1024 * 1024)) for i in range(3)]
    refused = phone.post(files=huge)
    assert refused.status_code == 413 and t("bad.photo_size", max_mb=1) in phone.page
    three = [image_bytes("PNG", (i, 0, 0)) for i in range(3)]
    assert t("bad.too_many_photos", max=2) in phone.photos(*three)
    too_many = phone.post(files=[("photo", (f"{i}.png", PNG)) for i in range(5)])
    assert too_many.status_code == 413 and t("bad.too_many_photos", max=2) in phone.page


def test_every_post_needs_the_browsers_own_form_token(app: App, phone: Phone, base: str) -> None:
    phone.visit()
    mine = phone.csrf()
    with another(base) as client:
        stranger = Phone(client)
        stranger.visit()
        theirs = stranger.csrf()
    assert theirs != mine

    def rows() -> int:
        with app.sessions() as session:
            return len(session.exec(select(Outbox)).all())

    before = rows()
    for given in ({}, {"csrf": "wrong"}, {"csrf": theirs}):
        data = {"mid": secrets.token_hex(8), "choice": "new", **given}
        refused = phone.client.post("/m/say", data=data)
        assert refused.status_code == 403 and t("web.expired") in html.unescape(refused.text)
    with another(base) as cookieless:
        data = {"csrf": mine, "mid": secrets.token_hex(8), "choice": "new"}
        refused = cookieless.post("/m/say", data=data)
        assert refused.status_code == 403 and t("web.no_cookie") in html.unescape(refused.text)
    assert rows() == before


def test_a_form_sent_twice_is_one_turn(app: App, phone: Phone) -> None:
    phone.visit()
    data = {"csrf": phone.csrf(), "mid": "same-nonce-1", "choice": "new"}
    for _ in range(2):
        assert phone.client.post("/m/say", data=data).status_code == 200
    with app.sessions() as session:
        asked = t("ask.describe", min=5, max=2000)
        rows = [row for row in session.exec(select(Outbox)) if row.params.get("text") == asked]
    assert len(rows) == 1
    phone.visit()
    assert phone.page.count('class="msg mine') == 1  # the press, once


def _mine(page: str) -> list[str]:
    """The resident's own bubbles on a page, in order."""
    chat = page.split('<div id="compose">')[0]
    return [
        re.sub(r"<[^>]+>", "", bubble.partition(">")[2]).strip()
        for bubble in chat.split('<div class="msg')[1:]
        if bubble.startswith(" mine")
    ]


def test_the_residents_own_words_are_shown_again_on_a_later_visit(phone: Phone) -> None:
    number = file_on(phone)
    phone.photos(BLUE)
    phone.visit()  # a reload, or the page opened again tomorrow
    words = _mine(phone.page)
    assert words[:2] == [t("menu.new"), ELEVATOR]
    assert t("option.skip") in words and "139****9000" in words and PHONE not in phone.page
    assert t("option.confirm") in words
    assert words[-1] == t("web.me.photos", count=1)
    assert phone.page.index(ELEVATOR) < phone.page.index(number)  # before its answer


def test_a_residents_chat_is_in_their_export_and_gone_with_their_erasure(
    app: App, phone: Phone
) -> None:
    file_on(phone)
    with transaction(app.sessions) as session:
        held = privacy.held_about(session, PHONE)
    said = [m["params"].get("text") for m in held["messages"] if m["message"] == "web.me.words"]
    assert ELEVATOR in said and "139****9000" in said and PHONE not in str(held["messages"])
    with transaction(app.sessions) as session:
        privacy.erase(session, PHONE, reason="test")
    phone.visit()  # the same browser: a new resident, greeted afresh
    assert ELEVATOR not in phone.page and "139****9000" not in phone.page
    with app.sessions() as session:
        assert not session.exec(select(Outbox).where(Outbox.message == "web.me.words")).all()


def test_progress_lists_this_browsers_cases_and_no_other_browser_sees_them(
    phone: Phone, base: str
) -> None:
    number = file_on(phone)
    assert number in phone.choose(t("menu.my"))
    with another(base) as client:
        stranger = Phone(client)
        stranger.visit()
        assert t("pick.timeline.none") in stranger.choose(t("menu.my"))
        assert t("case.not_found", number=number) in stranger.say(number)
        assert ELEVATOR not in stranger.page


def test_another_device_opens_a_case_with_number_and_phone_then_is_locked_out(
    app: App, phone: Phone, base: str
) -> None:
    number = file_on(phone)
    assert t("web.may_call", phone="139****9000") in phone.page
    with another(base) as client:
        other = Phone(client)
        other.visit("/m/open")
        tries = [(number, "13900139001"), ("SQ20000101-0001", PHONE), (number, "")]
        for wrong_number, wrong_phone in tries:
            other.post("/m/open", number=wrong_number, phone=wrong_phone)
            assert other.status == 403 and t("web.open.failed") in other.page
        other.post("/m/open", number=number.lower(), phone="+86 139 0013 9000")
        assert other.status == 200 and ELEVATOR in other.page  # the case, and it is followed
        assert number in other.choose(t("menu.my"))
        with app.sessions() as session:
            assert len(session.exec(select(Follower)).all()) == 1
        other.visit("/m/open")
        for _ in range(2):
            other.post("/m/open", number=number, phone="13900139001")
        assert other.status == 429 and t("web.open.locked", minutes=30) in other.page
        other.post("/m/open", number=number, phone=PHONE)  # right, but locked
        assert other.status == 429
    with another(base) as client:  # a new browser from the same address: locked too
        fresh = Phone(client)
        fresh.visit("/m/open")
        fresh.post("/m/open", number=number, phone=PHONE)
        assert fresh.status == 429


def test_the_lock_out_holds_across_the_services_processes(
    app: App, phone: Phone, base: str
) -> None:
    number = file_on(phone)
    # Another worker of the service (its own counters of turns), and a browser on each.
    with served(app) as second, another(base) as one, another(second) as two:
        workers = [Phone(one), Phone(two)]
        for worker in workers:
            worker.visit("/m/open")
        for attempt in range(5):  # open_attempts, split between the two workers
            workers[attempt % 2].post("/m/open", number=number, phone="13900139001")
        assert workers[0].status == 429  # the fifth try was the first worker's
        workers[1].post("/m/open", number=number, phone=PHONE)  # right, but locked
        assert workers[1].status == 429
        assert t("web.open.locked", minutes=30) in workers[1].page
    with app.sessions() as session:
        assert not session.exec(select(Follower)).all()


@pytest.fixture
def strict(settings: Settings) -> Settings:
    settings.channels.web.browser_turns_per_minute = 4
    settings.channels.web.address_browsers_per_hour = 2
    return settings


def test_turns_and_new_browsers_are_limited(strict: Settings, phone: Phone, base: str) -> None:
    phone.visit()  # the greeting is a turn
    for _ in range(3):
        phone.choose(t("menu.help"))
        assert phone.status == 200
    phone.post(choice="help")
    assert phone.status == 429 and t("web.too_fast") in phone.page
    with another(base) as client:
        assert client.get("/m", follow_redirects=True).status_code == 200
    with another(base) as client:
        refused = client.get("/m", follow_redirects=True)
        assert refused.status_code == 429 and COOKIE not in refused.headers.get("set-cookie", "")


def test_the_first_page_is_small(phone: Phone) -> None:
    page = phone.visit()
    weight = len(page.content) + sum(
        len(phone.client.get(asset).content)
        for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    )
    assert 0 < weight < 100 * 1024


# -- in a browser, at a phone's size -------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        driver.set_window_size(*PHONE_SIZE)
        yield driver


def wait_for(driver: WebDriver, text: str) -> None:
    """Until the chat shows `text`."""
    WebDriverWait(driver, 10).until(
        lambda d: text in d.find_element(By.ID, "chat").text, f"no {text!r} on the page"
    )


def error_shown(driver: WebDriver) -> str:
    """The error the page came back with, once it has."""
    found = WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "error"))
    return str(found[0].text)


def press(driver: WebDriver, label: str) -> None:
    buttons = driver.find_elements(By.XPATH, f"//button[normalize-space()='{label}']")
    assert buttons, f"no button {label!r}"
    buttons[-1].click()


def type_in(driver: WebDriver, text: str) -> None:
    box = driver.find_element(By.ID, "text")
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


def no_sideways_scroll(driver: WebDriver) -> bool:
    width = driver.execute_script("return document.documentElement.scrollWidth")
    return bool(width <= driver.execute_script("return window.innerWidth"))


def test_in_a_browser_a_whole_appeal_with_two_photos_and_the_phones_location(
    app: App, base: str, browser: WebDriver, tmp_path: Path
) -> None:
    browser.execute_cdp_cmd(
        "Browser.grantPermissions", {"origin": base, "permissions": ["geolocation"]}
    )
    browser.execute_cdp_cmd(
        "Emulation.setGeolocationOverride",
        {"latitude": 28.19, "longitude": 112.97, "accuracy": 10},
    )
    shots = []
    for i, color in enumerate(((200, 30, 30), (30, 160, 60))):
        path = tmp_path / f"photo{i}.jpg"
        Image.new("RGB", (3200, 2400), color).save(path, "JPEG", quality=95)
        shots.append(str(path))
    browser.get(f"{base}/m/dh3")
    wait_for(browser, t("grid.entered", grid="东湖3网格"))
    screenshot(browser, "mobile-welcome")
    press(browser, t("menu.new"))
    wait_for(browser, t("ask.describe", min=5, max=2000))
    type_in(browser, ELEVATOR)
    wait_for(browser, t("ask.photos", max=9))
    browser.find_element(By.ID, "photo").send_keys("\n".join(shots))
    wait_for(browser, t("photo.received", count=2))
    assert ELEVATOR in browser.find_element(By.ID, "chat").text  # the resident's own words
    press(browser, t("option.done"))
    wait_for(browser, t("ask.location"))
    browser.find_element(By.ID, "locate").click()
    wait_for(browser, t("ask.phone"))
    type_in(browser, PHONE)
    wait_for(browser, "位置：28.19000, 112.97000")
    screenshot(browser, "mobile-summary")
    press(browser, t("option.confirm"))
    wait_for(browser, "您的诉求已受理")
    assert browser.find_element(By.ID, "may-call").text == t("web.may_call", phone="139****9000")
    assert no_sideways_scroll(browser)
    screenshot(browser, "mobile-filed")
    with app.sessions() as session:
        appeal = session.exec(select(Appeal)).one()
        assert (appeal.channel, appeal.grid, appeal.latitude) == ("web", "东湖3网格", 28.19)
        photos = session.exec(select(Attachment)).all()
        assert len(photos) == 2
        for photo in photos:  # made smaller in the browser before the upload
            with Image.open(photo.path) as image:
                assert max(image.size) == 1600
    press(browser, t("menu.my"))
    wait_for(browser, f"{appeal.number} 已转办")
    browser.find_element(By.ID, "font").click()
    assert "big" in browser.find_element(By.TAG_NAME, "html").get_attribute("class")
    browser.get(f"{base}/m")  # the switch is kept, and the chat is still there
    assert "big" in browser.find_element(By.TAG_NAME, "html").get_attribute("class")
    browser.set_window_size(320, 640)
    assert no_sideways_scroll(browser)


@pytest.fixture
def callbacks_now(settings: Settings) -> Settings:
    """Callbacks at once and at any hour."""
    settings.follow_up.callback_delay_hours = 0
    settings.follow_up.quiet_start = settings.follow_up.quiet_end
    return settings


def test_in_a_browser_notices_wait_for_the_resident_who_rates_and_another_device_opens(
    callbacks_now: Settings, app: App, base: str, browser: WebDriver
) -> None:
    browser.get(f"{base}/m")
    press(browser, t("menu.new"))
    wait_for(browser, t("ask.describe", min=5, max=2000))
    type_in(browser, ELEVATOR)
    wait_for(browser, t("ask.photos", max=9))
    press(browser, t("option.skip"))
    wait_for(browser, t("ask.location"))
    press(browser, t("option.skip"))
    wait_for(browser, t("ask.phone"))
    type_in(browser, PHONE)
    wait_for(browser, "请确认您的诉求")
    press(browser, t("option.confirm"))
    wait_for(browser, "您的诉求已受理")
    with transaction(app.sessions) as session:
        appeal = session.exec(select(Appeal)).one()
        clerk = staff_member(session, Role.STAFF, name="张三", department="住建局")
        actor, policy = Actor.of(clerk), app.dialog.policy
        staff.sign(session, appeal=appeal, actor=actor, policy=policy)
        staff.resolve(session, appeal=appeal, actor=actor, result="电梯已修好", policy=policy)
        number = appeal.number
    Sweeper(app.sessions, app.dialog.policy).sweep()  # the satisfaction callback
    browser.get(f"{base}/m")  # the resident comes back
    news = browser.find_elements(By.CSS_SELECTOR, ".msg.new")
    assert len(news) == 3 and "电梯已修好" in news[1].text
    assert "满意" in news[2].text
    screenshot(browser, "mobile-notices")
    press(browser, "满意")
    wait_for(browser, t("rate.ask_comment"))
    press(browser, t("option.skip"))
    wait_for(browser, t("rate.thanks", number=number))
    browser.get(f"{base}/m")
    assert not browser.find_elements(By.CSS_SELECTOR, ".msg.new")  # seen once

    browser.delete_all_cookies()  # another phone
    browser.get(f"{base}/m/open")
    browser.find_element(By.ID, "number").send_keys(number)
    browser.find_element(By.ID, "phone").send_keys("13900139001")
    browser.find_element(By.ID, "open").click()
    assert error_shown(browser) == t("web.open.failed")
    browser.find_element(By.ID, "number").send_keys(number)
    browser.find_element(By.ID, "phone").send_keys("139 0013 9000")
    browser.find_element(By.ID, "open").click()
    wait_for(browser, f"诉求 {number}（已评价）")
    screenshot(browser, "mobile-opened")
    for _ in range(5):
        browser.get(f"{base}/m/open")
        browser.find_element(By.ID, "number").send_keys(number)
        browser.find_element(By.ID, "phone").send_keys("13800138000")
        browser.find_element(By.ID, "open").click()
        assert error_shown(browser)
    assert error_shown(browser) == t("web.open.locked", minutes=30)
