"""A resident's cases: 查询进度 (theirs and followed ones, in pages, each one's ledger), a
case opened by its typed number, 补充材料 and 撤回."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from enum import StrEnum

from sqlmodel import Session

from handlers.desk import CANCEL, CONFIRM, DONE, IDLE, Desk
from handlers.rating import RateStep
from handlers.turn import Turn
from messages.catalog import ACTION, INTERNAL_ACTIONS, PUBLIC_NOTES, STATUS, t
from messages.types import Inbound, Kind, Option
from storage.models import Appeal
from workflow import service
from workflow.followup import rating_options
from workflow.lifecycle import OPEN, LifecycleError, Status

CASES_PER_PAGE = 8
CASE_NUMBER = re.compile(r"SQ\d{8}-\d{4,}")


class CaseStep(StrEnum):
    PICK = "pick"
    SUPPLEMENT = "supplement"
    WITHDRAW_REASON = "withdraw_reason"
    WITHDRAW_CONFIRM = "withdraw_confirm"


class Cases:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.steps: dict[str, Callable[[Turn], None]] = {
            CaseStep.PICK: self._pick,
            CaseStep.SUPPLEMENT: self._supplement,
            CaseStep.WITHDRAW_REASON: self._withdraw_reason,
            CaseStep.WITHDRAW_CONFIRM: self._withdraw_confirm,
        }

    def prompt(self, turn: Turn) -> None:
        """These steps' questions are their options: offer them again."""
        turn.say(t("resume.options"), *turn.offered())

    def list_mine(self, turn: Turn) -> None:
        self._offer_cases(turn, "timeline")

    def begin_supplement(self, turn: Turn) -> None:
        self._offer_cases(turn, "supplement")

    def begin_withdraw(self, turn: Turn) -> None:
        self._offer_cases(turn, "withdraw")

    def _offer_cases(self, turn: Turn, purpose: str, page: int = 0) -> None:
        """A page of the cases to pick from: all of the resident's and followed ones to
        look at ("timeline"), their open ones to add to or withdraw."""
        first = page * CASES_PER_PAGE
        if purpose == "timeline":
            appeals, total = service.appeals_of(
                turn.session, resident=turn.person, offset=first, limit=CASES_PER_PAGE
            )
        else:
            everything = service.open_appeals_of(turn.session, resident=turn.person)
            appeals, total = everything[first : first + CASES_PER_PAGE], len(everything)
        if not appeals:
            turn.goto(IDLE)
            turn.say(t(f"pick.{purpose}.none"))
            return
        turn.goto(CaseStep.PICK, purpose=purpose)
        options = [
            Option(
                t(
                    "my.item",
                    number=appeal.number,
                    status=STATUS[appeal.status],
                    category=appeal.category,
                    date=self.desk.local(appeal.created_at)[:10],
                ),
                f"case:{appeal.number}",
            )
            for appeal in appeals
        ]
        if first + len(appeals) < total:
            options.append(Option(t("option.more"), f"page:{page + 1}"))
        turn.say(t(f"pick.{purpose}", total=total), *options)

    def _pick(self, turn: Turn) -> None:
        purpose = str(turn.data.get("purpose", "timeline"))
        picked = turn.choice() or ""
        if picked.startswith("page:"):
            self._offer_cases(turn, purpose, int(picked.removeprefix("page:")))
            return
        number = picked.removeprefix("case:") if picked else typed_number(turn.inbound)
        if purpose == "timeline" and number:
            self.show_case(turn, number)
            return
        appeal = service.own_appeal(turn.session, resident=turn.person, number=number or "")
        if appeal is None:
            turn.say(t("bad.choice"))
            self._offer_cases(turn, purpose)
        elif Status(appeal.status) not in OPEN:
            turn.goto(IDLE)
            turn.say(t("case.gone"))
        elif purpose == "supplement":
            turn.goto(CaseStep.SUPPLEMENT, number=appeal.number, count=0)
            turn.say(t("supplement.ask"), Option(t("option.done"), DONE))
        else:
            turn.goto(CaseStep.WITHDRAW_REASON, number=appeal.number)
            turn.say(t("withdraw.ask_reason"), Option(t("option.cancel"), CANCEL))

    def show_case(self, turn: Turn, number: str) -> None:
        """The case's record, if the resident filed or follows it; a resolved case of their
        own that waits for a rating may be rated at once."""
        turn.goto(IDLE)
        appeal = service.visible_appeal(turn.session, resident=turn.person, number=number)
        if appeal is None:
            turn.say(t("case.not_found", number=number))
            return
        timeline = self._timeline(turn.session, appeal)
        if appeal.status == Status.RESOLVED and appeal.resident_id == turn.person.id:
            turn.goto(RateStep.RATE)
            options = [Option(label, value) for label, value in rating_options(appeal)]
            turn.say(timeline + "\n" + t("rate.now"), *options)
            return
        turn.say(timeline)

    def _timeline(self, session: Session, appeal: Appeal) -> str:
        lines = [
            t(
                "timeline.head",
                number=appeal.number,
                status=STATUS[appeal.status],
                text=appeal.text,
            )
        ]
        for event in service.timeline(session, appeal=appeal):
            if event.action in INTERNAL_ACTIONS:
                continue
            note = f"：{event.note}" if event.note and event.action in PUBLIC_NOTES else ""
            action = ACTION.get(event.action, event.action)
            lines.append(
                t(
                    "timeline.item",
                    time=self.desk.local(event.created_at),
                    action=action,
                    note=note,
                )
            )
        return "\n".join(lines)

    def _appeal_in_step(self, turn: Turn) -> Appeal | None:
        """The appeal this step is about, if it is still open; otherwise end the step."""
        number = str(turn.data.get("number", ""))
        appeal = service.own_appeal(turn.session, resident=turn.person, number=number)
        if appeal is None or Status(appeal.status) not in OPEN:
            turn.goto(IDLE)
            turn.say(t("case.gone"))
            return None
        return appeal

    def _supplement(self, turn: Turn) -> None:
        if turn.choice() == DONE:
            count = int(turn.data.get("count", 0))
            turn.goto(IDLE)
            turn.say(t("supplement.done", count=count))
            return
        appeal = self._appeal_in_step(turn)
        if appeal is None:
            return
        inbound = turn.inbound
        done = Option(t("option.done"), DONE)
        if inbound.kind is Kind.PHOTO:
            limit = self.desk.limits.photos_per_appeal
            if service.photo_count(turn.session, appeal) >= limit:
                turn.say(t("bad.too_many_photos", max=limit), done)
                return
            photo = self.desk.store_photo(turn)
            if photo is None:
                return
            service.supplement(
                turn.session,
                resident=turn.person,
                appeal=appeal,
                note=t("note.photo"),
                photo=photo,
            )
        elif inbound.kind is Kind.LOCATION and inbound.latitude is not None:
            longitude = inbound.longitude or 0.0
            self.desk.add_place(turn, appeal, inbound.latitude, longitude, inbound.address)
        else:
            problem = self.desk.words_problem(inbound)
            if problem is not None:
                turn.say(problem, done)
                return
            text = inbound.text.strip()
            service.supplement(turn.session, resident=turn.person, appeal=appeal, note=text)
        turn.data["count"] = int(turn.data.get("count", 0)) + 1
        turn.say(t("supplement.added", number=appeal.number), done)

    def _withdraw_reason(self, turn: Turn) -> None:
        if turn.choice() == CANCEL:
            self.desk.cancel(turn)
            return
        appeal = self._appeal_in_step(turn)
        if appeal is None:
            return
        inbound = turn.inbound
        reason = inbound.text.strip() if inbound.kind is Kind.TEXT else ""
        if not reason or len(reason) > self.desk.limits.text_max_chars:
            turn.say(t("withdraw.ask_reason"), Option(t("option.cancel"), CANCEL))
            return
        turn.goto(CaseStep.WITHDRAW_CONFIRM, number=appeal.number, reason=reason)
        turn.say(
            t("withdraw.confirm", number=appeal.number, reason=reason),
            Option(t("option.withdraw"), CONFIRM),
            Option(t("option.cancel"), CANCEL),
        )

    def _withdraw_confirm(self, turn: Turn) -> None:
        picked = turn.choice()
        if picked == CANCEL:
            self.desk.cancel(turn)
            return
        appeal = self._appeal_in_step(turn)
        if appeal is None:
            return
        if picked != CONFIRM:
            reason = str(turn.data.get("reason", ""))
            turn.say(t("bad.choice"))
            turn.say(t("withdraw.confirm", number=appeal.number, reason=reason), *turn.offered())
            return
        try:
            service.withdraw(
                turn.session,
                resident=turn.person,
                appeal=appeal,
                reason=str(turn.data.get("reason", "")),
                policy=self.desk.policy,
            )
        except LifecycleError:
            turn.goto(IDLE)
            turn.say(t("case.gone"))
            return
        turn.goto(IDLE)
        turn.say(t("withdraw.done", number=appeal.number))


def typed_number(inbound: Inbound) -> str | None:
    """A case number typed as the whole message (any case, full-width too)."""
    if inbound.kind is not Kind.TEXT:
        return None
    text = unicodedata.normalize("NFKC", inbound.text).strip().upper()
    return text if CASE_NUMBER.fullmatch(text) else None
