"""The dashboard and the Excel period report: the page's figures are `appealbot report
--format json`'s for the same period and database (the CLI run as a process), its charts are
SVG with the report's bars, the workbook reads back with openpyxl, and a department sees
its own cases only."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from bot.app import App
from storage.db import transaction
from storage.models import Person
from storage.roles import Role
from storage.types import utcnow
from tests.report_seed import seed_cases
from tests.test_cli import _appealbot
from tests.web_helpers import chromium, file_case, screenshot, served, sign_in, staff_member
from workflow import signin

HOUSING = "住建局"
ELEVATOR = "我们小区的物业一直不处理电梯故障，已经两周了"  # → 住建局
STALLS = "小区门口有人占道经营摆摊卖菜，堵得车都过不去"  # → 城管局
RATES = (
    "finish_rate",
    "on_time_rate",
    "response_rate",
    "satisfaction_rate",
    "dispute_resolution_rate",
    "days_off_share",
)


class Page(HTMLParser):
    """The text of every element with an id, and each chart's marks (label, series, value)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.marks: dict[str, list[tuple[str, str, int]]] = {}
        self.links: list[str] = []
        self._open: list[str | None] = []
        self._chart: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "svg":
            self._chart = found.get("id")
            self.marks.setdefault(self._chart or "", [])
        if tag == "g" and self._chart and "data-value" in found:
            mark = (
                found["data-label"] or "",
                found["data-series"] or "",
                int(found["data-value"] or 0),
            )
            self.marks[self._chart].append(mark)
        if tag == "a" and found.get("href", "").startswith("/cases/"):
            self.links.append(str(found["href"]))
        if tag in ("rect", "line", "input", "meta", "link"):
            return
        self._open.append(found.get("id"))
        if found.get("id"):
            self.text[str(found["id"])] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._chart = None
        if tag not in ("rect", "line", "input", "meta", "link") and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for key in self._open:
            if key:
                self.text[key] += data


def cli_report(app: App, tmp_path: Path, *args: str) -> dict[str, Any]:
    """`appealbot report ...` on the app's database, as a process; its JSON, if any."""
    url = app.engine.url.render_as_string(hide_password=False)
    result = _appealbot(tmp_path, "report", *args, env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if "--out" not in args else {}


def assert_figures(page: Page, report: dict[str, Any]) -> None:
    assert (page.text["start"], page.text["end"]) == (report["start"], report["end"])
    assert int(page.text["received"]) == report["received"]
    assert int(page.text["on_days_off"]) == report["on_days_off"]
    for key in RATES:
        shown = page.text[key]
        assert shown == ("—" if report[key] is None else f"{report[key]:.1%}"), key
    assert page.text["overdue-count"].strip() == f"{len(report['overdue'])} 件"


@pytest.fixture
def people(app: App) -> dict[str, int]:
    with transaction(app.sessions) as session:
        made = {
            "housing": staff_member(session, Role.STAFF, name="张三", department=HOUSING),
            "leader": staff_member(session, Role.LEADER, name="赵六"),
        }
        return {key: person.id for key, person in made.items() if person.id is not None}


@contextmanager
def client_for(app: App, base: str, person_id: int) -> Iterator[httpx.Client]:
    """An HTTP client signed in as the person."""
    with transaction(app.sessions) as session:
        person = session.get(Person, person_id)
        assert person is not None
        token = signin.create_link(session, person)
    with httpx.Client(base_url=base, timeout=60) as client:
        assert client.post(f"/signin/{token}").status_code == 303
        yield client


@pytest.fixture
def seeded(app: App) -> App:
    seed_cases(app, 600, until=utcnow(), days=70, seed=7)
    return app


@pytest.fixture
def base(app: App) -> Iterator[str]:
    with served(app) as url:
        yield url


def test_the_dashboard_shows_the_json_reports_figures_for_each_period(
    seeded: App, people: dict[str, int], base: str, tmp_path: Path
) -> None:
    today = seeded.dialog.policy.calendar.local_day(utcnow())
    first = today - dt.timedelta(days=45)
    with client_for(seeded, base, people["leader"]) as client:
        periods = [
            (
                f"period=range&from={first}&to={today}",
                ["--from", str(first), "--to", str(today)],
            ),
            ("period=week", ["--period", "week", "--date", str(today)]),
            ("period=month", ["--period", "month", "--date", str(today)]),
        ]
        for query, args in periods:
            page = Page(client.get(f"/dashboard?{query}").text)
            report = cli_report(seeded, tmp_path, *args, "--format", "json")
            assert_figures(page, report)
        # The range's charts are the report's numbers.
        page = Page(client.get(f"/dashboard?{periods[0][0]}").text)
        report = cli_report(seeded, tmp_path, *periods[0][1], "--format", "json")
    assert report["received"] > 300 and report["overdue"]
    assert page.marks["chart-daily"] == [(day, "", n) for day, n in report["daily"]]
    assert sorted(page.marks["chart-departments"]) == sorted(
        (row["department"], series, row[key])
        for row in report["departments"]
        for series, key in zip(
            ("受理", "按期办结", "超期", "重办"),
            ("received", "on_time", "overdue", "reopened"),
            strict=True,
        )
    )
    types = list(report["by_type"].items())
    assert page.marks["chart-types"][:12] == [(name, "", n) for name, n in types[:12]]
    assert page.marks["chart-types"][12:] == [("其他", "", sum(n for _, n in types[12:]))]
    assert sum(n for _, _, n in page.marks["chart-heat"]) == report["received"]
    assert page.marks["chart-ratings"] == [(k, "", n) for k, n in report["ratings"].items()]
    assert page.links[: len(report["overdue"])] == [
        f"/cases/{line['number']}" for line in report["overdue"][:200]
    ]
    # A range that is not one shows this month, saying so.
    with client_for(seeded, base, people["leader"]) as client:
        refused = client.get(f"/dashboard?period=range&from={today}&to={first}").text
    assert Page(refused).text["start"] == today.replace(day=1).isoformat()
    assert "起止颠倒" in refused


def test_a_department_sees_its_own_cases_on_the_dashboard_and_in_its_workbook(
    seeded: App, people: dict[str, int], base: str, tmp_path: Path
) -> None:
    today = seeded.dialog.policy.calendar.local_day(utcnow())
    first = today - dt.timedelta(days=60)
    query = f"period=range&from={first}&to={today}"
    with client_for(seeded, base, people["housing"]) as client:
        page = Page(client.get(f"/dashboard?{query}").text)
        book = openpyxl.load_workbook(BytesIO(client.get(f"/dashboard.xlsx?{query}").content))
    mine = cli_report(
        seeded,
        tmp_path,
        "--from",
        str(first),
        "--to",
        str(today),
        "--department",
        HOUSING,
        "--format",
        "json",
    )
    everything = cli_report(
        seeded, tmp_path, "--from", str(first), "--to", str(today), "--format", "json"
    )
    assert 0 < mine["received"] < everything["received"]
    assert_figures(page, mine)
    assert {label for label, _, _ in page.marks["chart-departments"]} == {HOUSING}
    assert all(line["department"] == HOUSING for line in mine["overdue"])
    assert book.sheetnames == ["总体", HOUSING, "超期临期"]
    assert book["总体"]["B4"].value == mine["received"]


def test_the_period_workbook_from_the_cli_and_the_dashboard(
    seeded: App, people: dict[str, int], base: str, tmp_path: Path
) -> None:
    today = seeded.dialog.policy.calendar.local_day(utcnow())
    first = today - dt.timedelta(days=30)
    span = ["--from", str(first), "--to", str(today)]
    cli_report(seeded, tmp_path, *span, "--format", "xlsx", "--out", str(tmp_path / "r.xlsx"))
    report = cli_report(seeded, tmp_path, *span, "--format", "json")
    with client_for(seeded, base, people["leader"]) as client:
        download = client.get(f"/dashboard.xlsx?period=range&from={first}&to={today}")
    assert download.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert f"{first}_{today}.xlsx" in download.headers["content-disposition"]
    for book in (
        openpyxl.load_workbook(tmp_path / "r.xlsx"),
        openpyxl.load_workbook(BytesIO(download.content)),
    ):
        departments = [row["department"] for row in report["departments"]]
        assert book.sheetnames == ["总体", *departments, "超期临期"]
        figures = book["总体"]
        assert figures.freeze_panes == "A2"
        assert [c.value for c in figures[1]] == ["指标", "数值"]
        values = {row[0].value: row[1] for row in figures.iter_rows(min_row=2)}
        assert values["统计起始"].value == dt.datetime.combine(first, dt.time())
        assert values["统计起始"].is_date
        assert values["受理"].value == report["received"]
        for name, key in (
            ("办结率", "finish_rate"),
            ("按期办结率", "on_time_rate"),
            ("满意率", "satisfaction_rate"),
        ):
            assert values[name].value == report[key] and values[name].number_format == "0.0%"
        assert values["超期未办结"].value == sum(r["overdue"] for r in report["departments"])
        assert figures.column_dimensions["A"].width == 16
        housing = cli_report(seeded, tmp_path, *span, "--department", HOUSING, "--format", "json")
        own = {row[0].value: row[1].value for row in book[HOUSING].iter_rows(min_row=2)}
        assert own["受理"] == housing["received"] and own["办结率"] == housing["finish_rate"]
        overdue = book["超期临期"]
        assert [c.value for c in overdue[1]] == [
            "编号",
            "部门",
            "类型",
            "状态",
            "标记",
            "受理时间",
            "办结时限",
        ]
        rows = list(overdue.iter_rows(min_row=2, values_only=True))
        assert [row[0] for row in rows] == [line["number"] for line in report["overdue"]]
        assert {row[4] for row in rows} <= {"超期", "临期"}
        assert isinstance(rows[0][6], dt.datetime)
        assert rows[0][6].strftime("%Y-%m-%d %H:%M") == report["overdue"][0]["finish_due_at"]


def test_two_cases_draw_their_bars(app: App, people: dict[str, int], base: str) -> None:
    file_case(app, ELEVATOR, "u1")
    file_case(app, STALLS, "u2")
    now = utcnow().astimezone(app.dialog.policy.calendar.zone)
    with client_for(app, base, people["leader"]) as client:
        page = Page(client.get("/dashboard?period=day").text)
    assert page.text["received"] == "2"
    departments = page.marks["chart-departments"]
    assert (HOUSING, "受理", 1) in departments
    assert sum(n for _, series, n in departments if series == "受理") == 2
    assert page.marks["chart-daily"] == [(now.date().isoformat(), "", 2)]
    weekday = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")[now.weekday()]
    heat = {label: n for label, _, n in page.marks["chart-heat"]}
    assert heat[f"{weekday} {now.hour}时"] == 2 and sum(heat.values()) == 2
    assert page.marks["chart-ratings"] == []  # nobody has rated: "暂无数据"
    assert "暂无数据" in page.text["chart-ratings"]


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard.xlsx"])
def test_without_a_session_the_dashboard_leads_to_sign_in(base: str, path: str) -> None:
    response = httpx.get(f"{base}{path}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin"


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def test_in_a_browser_the_dashboard_fits_a_phone(
    seeded: App, people: dict[str, int], browser: WebDriver
) -> None:
    today = seeded.dialog.policy.calendar.local_day(utcnow())
    with served(seeded) as url:
        sign_in(browser, url, seeded, people["leader"])
        assert browser.current_url == f"{url}/cases"
        browser.get(
            f"{url}/dashboard?period=range&from={today - dt.timedelta(days=30)}&to={today}"
        )
        assert browser.find_element(By.ID, "chart-departments").is_displayed()
        screenshot(browser, "dashboard")
        browser.set_window_size(360, 740)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= browser.execute_script("return window.innerWidth")
        chart = browser.find_element(By.ID, "chart-heat")
        assert 250 < chart.size["width"] <= 360
        browser.find_element(By.LINK_TEXT, "本周").click()
        assert browser.current_url.endswith("/dashboard?period=week")
