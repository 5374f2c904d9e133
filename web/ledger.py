"""The 台账 page: every case the viewer may see, filtered, counted, sorted and paged; and the
same view as an Excel file (all its pages)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from messages.catalog import (
    CHANNEL,
    DISPOSITION,
    FLAG,
    LEDGER_SHEET,
    STATUS,
    STATUS_GROUP,
    URGENCY,
)
from storage.types import utcnow
from web import sheets
from web.layer import Site, Visit, page
from workflow import ledger
from workflow.cards import deadline_shown, local_deadline
from workflow.lifecycle import Actor

log = logging.getLogger(__name__)

# The export's columns (headers from the catalog's LEDGER_SHEET) and their widths.
COLUMNS = [
    sheets.Column(LEDGER_SHEET["number"], 16),
    sheets.Column(LEDGER_SHEET["created"], 17, sheets.DATETIME),
    sheets.Column(LEDGER_SHEET["channel"], 10),
    sheets.Column(LEDGER_SHEET["text"], 50),
    sheets.Column(LEDGER_SHEET["category"], 12),
    sheets.Column(LEDGER_SHEET["appeal_type"], 14),
    sheets.Column(LEDGER_SHEET["disposition"], 9),
    sheets.Column(LEDGER_SHEET["department"], 14),
    sheets.Column(LEDGER_SHEET["grid"], 14),
    sheets.Column(LEDGER_SHEET["address"], 24),
    sheets.Column(LEDGER_SHEET["urgency"], 9),
    sheets.Column(LEDGER_SHEET["status"], 14),
    sheets.Column(LEDGER_SHEET["deadline"], 17, sheets.DATETIME),
    sheets.Column(LEDGER_SHEET["flag"], 10),
    sheets.Column(LEDGER_SHEET["reopened"], 9),
    sheets.Column(LEDGER_SHEET["whistleblowing"], 6),
    sheets.Column(LEDGER_SHEET["phone"], 16),
]


def routes(site: Site) -> list[BaseRoute]:
    return [Route("/cases", page(site, _ledger)), Route("/cases.xlsx", page(site, _export))]


def _rules(visit: Visit) -> ledger.Rules:
    policy = visit.site.policy
    return ledger.Rules(utcnow(), policy.calendar.zone, policy.follow_up.remind_at)


def _ledger(visit: Visit) -> Response:
    query = visit.request.query_params
    filters, ignored = ledger.Filters.parse(query)
    number = int(query["page"]) if query.get("page", "").isdigit() else 1
    rules = _rules(visit)
    found = ledger.page(visit.db, visit.viewer.actor, filters, rules, number)

    def link(**changes: str) -> str:
        return "/cases?" + urlencode(filters.params(**changes))

    return visit.render(
        "ledger.html",
        page=found,
        filters=filters,
        ignored=ignored,
        options=_options(found, filters),
        link=link,
        export="/cases.xlsx?" + urlencode(filters.params()),
        zone=rules.zone,
        deadline=lambda due: local_deadline(due, visit.site.policy.calendar, "%Y-%m-%d %H:%M"),
    )


def _options(found: ledger.Page, filters: ledger.Filters) -> dict[str, list[tuple[str, str, int]]]:
    """Each facet's choices as (value, label, count): fixed ones in their order, the others
    (types, departments, grids) as the cases have them, most cases first."""
    labels: dict[str, dict[str, str]] = {
        "status": STATUS_GROUP | STATUS,
        "channel": CHANNEL,
        "disposition": DISPOSITION,
        "urgency": URGENCY,
        "flag": FLAG,
        "department": found.departments,
    }
    options = {}
    for name, counts in found.counts.items():
        named = labels.get(name, {})
        if name in ledger.CHOICES:
            values = list(ledger.CHOICES[name])
        else:
            chosen = getattr(filters, name)
            values = sorted(counts, key=lambda value: -counts[value])
            values += [chosen] if chosen not in counts else []
        options[name] = [(v, named.get(v, v), counts.get(v, 0)) for v in values if v]
    return options


def _export(visit: Visit) -> Response:
    filters, _ = ledger.Filters.parse(visit.request.query_params)
    rules = _rules(visit)
    actor = visit.viewer.actor
    lines = ledger.lines(visit.db, actor, filters, rules)
    book = sheets.workbook()
    written = sheets.table(book, LEDGER_SHEET["title"], COLUMNS, _rows(lines, actor, rules))
    if actor.role in ledger.PHONE_ROLES:  # reading residents' phones is itself recorded
        log.info("ledger exported, phones in full, by person %s: %d", actor.person_id, written)
    stamp = rules.now.astimezone(rules.zone).strftime("%Y%m%d-%H%M")
    return sheets.download(book, f"{LEDGER_SHEET['title']}-{stamp}.xlsx")


def _rows(
    lines: Iterator[ledger.Line], actor: Actor, rules: ledger.Rules
) -> Iterator[Sequence[Any]]:
    yes = LEDGER_SHEET["yes"]
    for line in lines:
        appeal = line.appeal
        due = appeal.finish_due_at
        yield (
            appeal.number,
            sheets.local(appeal.created_at, rules.zone),
            CHANNEL.get(appeal.channel, appeal.channel),
            appeal.text,
            appeal.category,
            appeal.appeal_type,
            DISPOSITION.get(appeal.disposition, appeal.disposition),
            line.department,
            appeal.grid,
            appeal.address,
            URGENCY.get(appeal.urgency, appeal.urgency),
            STATUS.get(appeal.status, appeal.status),
            None if due is None else sheets.local(deadline_shown(due, rules.zone), rules.zone),
            FLAG[line.flag],
            appeal.reopen_count,
            yes if appeal.whistleblowing else "",
            ledger.phone_for(actor, appeal),
        )
