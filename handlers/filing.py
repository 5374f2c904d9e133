"""Filing the form: the summary with likely duplicates (follow someone else's case, or add
to one's own), 确认提交 or 保密提交, a grid worker's 已现场处置, and what the resident is told."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import StrEnum

from handlers.cases import CaseStep
from handlers.desk import CANCEL, CONFIRM, DONE, IDLE, MINUTE, Desk, place
from handlers.turn import Turn
from messages.catalog import DISPOSITION, DISPOSITION_MEANS, STATUS, t
from messages.types import Kind, Option
from nlp.rules import is_confidential
from nlp.types import Urgency
from storage.files import StoredFile
from workflow import service
from workflow.cards import local_deadline, mask_phone
from workflow.lifecycle import OPEN, Status
from workflow.service import DailyLimitReached

SECRET, ONSITE = "confirm_secret", "onsite"


class FilingStep(StrEnum):
    CONFIRM = "confirm"
    ONSITE = "onsite"


class Filing:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.steps: dict[str, Callable[[Turn], None]] = {
            FilingStep.CONFIRM: self._confirm,
            FilingStep.ONSITE: self._onsite,
        }

    def prompt(self, turn: Turn) -> None:
        if turn.step == FilingStep.CONFIRM:
            self._summary(turn)
        else:
            turn.say(t("grid.ask_onsite"), Option(t("option.cancel"), CANCEL))

    def _summary(self, turn: Turn) -> None:
        draft = turn.draft
        where = place(draft.latitude, draft.longitude, draft.address) or t("place.none")
        text = t(
            "summary",
            text=draft.text,
            photos=len(draft.photos),
            place=where,
            phone=mask_phone(draft.phone),
        )
        options = [Option(t("option.confirm"), CONFIRM)]
        secret: list[Option] = []
        if draft.confidential or is_confidential(draft.text):
            text += "\n" + t("summary.secret")
        elif not turn.data.get("grid_report"):
            text += "\n" + t("summary.secret_hint")
            secret.append(Option(t("option.confirm_secret"), SECRET))
        if turn.data.get("grid_report"):
            text += "\n" + t("grid.summary", name=draft.resident_name or t("place.none"))
            options.append(Option(t("option.onsite"), ONSITE))
        else:
            for appeal in service.similar_open(
                turn.session,
                draft=draft,
                classifier=self.desk.classifier,
                resident=turn.person,
                days=self.desk.policy.triage.duplicate_days,
            ):
                # The resident's own case, to add to; someone else's here, to follow.
                found, option, value = (
                    ("similar.own", "option.add_to", "add")
                    if appeal.own
                    else ("similar.found", "option.follow", "follow")
                )
                status = STATUS[appeal.status]
                text += "\n" + t(found, number=appeal.number, status=status)
                options.append(Option(t(option, number=appeal.number), f"{value}:{appeal.number}"))
        options.append(Option(t("option.cancel"), CANCEL))
        turn.say(text, *options, *secret)

    def _confirm(self, turn: Turn) -> None:
        picked = turn.choice() or ""
        if picked == CANCEL:
            self.desk.cancel(turn)
        elif picked == ONSITE:
            turn.step = FilingStep.ONSITE
            self.desk.ask(turn)
        elif picked.startswith("follow:"):
            self._follow(turn, picked.removeprefix("follow:"))
        elif picked.startswith("add:"):
            self._add_to(turn, picked.removeprefix("add:"))
        elif picked == SECRET:
            turn.keep(dataclasses.replace(turn.draft, confidential=True))
            self.submit(turn)
        elif picked == CONFIRM:
            self.submit(turn)
        else:
            turn.say(t("bad.choice"))
            self.desk.ask(turn)

    def _follow(self, turn: Turn, number: str) -> None:
        appeal = service.case_by_number(turn.session, number)
        if appeal is None or Status(appeal.status) not in OPEN:
            turn.say(t("case.gone"))
            self.desk.ask(turn)
            return
        service.follow(turn.session, resident=turn.person, appeal=appeal, note=t("note.follow"))
        turn.goto(IDLE)
        turn.say(t("similar.following", number=appeal.number))

    def _add_to(self, turn: Turn, number: str) -> None:
        """The draft (words, photos, place) added to the resident's own open case instead
        of filing it again."""
        appeal = service.own_appeal(turn.session, resident=turn.person, number=number)
        if appeal is None or Status(appeal.status) not in OPEN:
            turn.say(t("case.gone"))
            self.desk.ask(turn)
            return
        draft, session, person = turn.draft, turn.session, turn.person
        service.supplement(session, resident=person, appeal=appeal, note=draft.text)
        for photo in draft.photos:
            service.supplement(
                session, resident=person, appeal=appeal, note=t("note.photo"), photo=photo
            )
        if draft.latitude is not None and draft.longitude is not None:
            self.desk.add_place(turn, appeal, draft.latitude, draft.longitude, draft.address)
        turn.goto(IDLE)
        turn.say(t("similar.added", number=appeal.number))

    def _onsite(self, turn: Turn) -> None:
        """已现场处置: a photo of the result, then what was done; the case is filed resolved."""
        inbound = turn.inbound
        if inbound.kind is Kind.PHOTO:
            photo = self.desk.store_photo(turn)
            if photo is not None:
                turn.data["onsite_photos"] = [
                    *turn.data.get("onsite_photos", []),
                    dataclasses.asdict(photo),
                ]
                turn.say(t("grid.onsite_photo"), Option(t("option.cancel"), CANCEL))
            return
        if not turn.data.get("onsite_photos"):
            turn.say(t("grid.onsite_needs_photo"))
            self.desk.ask(turn)
            return
        problem = self.desk.text_problem(inbound, 1)
        if problem is not None:
            turn.say(problem)
            self.desk.ask(turn)
            return
        photos = [StoredFile(**photo) for photo in turn.data["onsite_photos"]]
        self.submit(turn, on_spot=service.OnSpot(inbound.text.strip(), photos))

    def submit(
        self, turn: Turn, *, on_spot: service.OnSpot | None = None, answered: bool = False
    ) -> None:
        """File the draft; `answered`: the FAQ's answer was shown and solved it."""
        draft = turn.draft
        grid_report = bool(turn.data.get("grid_report"))
        session = turn.session
        try:
            resident = (
                service.resident_for_report(session, reporter=turn.person, draft=draft)
                if grid_report
                else turn.person
            )
            submitted = service.submit(
                session,
                resident=resident,
                channel=turn.inbound.channel,
                draft=draft,
                classifier=self.desk.classifier,
                policy=self.desk.policy,
                reporter=turn.person if grid_report else None,
                on_spot=on_spot,
            )
        except DailyLimitReached:
            turn.say(t("bad.daily_limit", limit=self.desk.policy.appeals_per_day))
            return
        turn.goto(IDLE)
        if answered:
            turn.say(t("faq.recorded", number=submitted.appeal.number))
        elif on_spot is None:
            self._tell_submitted(turn, submitted)
        else:  # handled already: no department, deadline or urgency to announce
            turn.say(t("grid.onsite_recorded", number=submitted.appeal.number))

    def _tell_submitted(self, turn: Turn, submitted: service.Submitted) -> None:
        appeal, result = submitted.appeal, submitted.classification
        if result.urgency is Urgency.LIFE:
            self._tell_emergency(turn, submitted)
            return
        if result.urgency is Urgency.URGENT:
            turn.say(t("urgent.safety"))
        lines = [t("submitted", number=appeal.number)]
        if not appeal.needs_triage:
            lines.append(
                t(
                    "submitted.sorted",
                    category=appeal.category,
                    disposition=DISPOSITION[appeal.disposition],
                    means=DISPOSITION_MEANS[appeal.disposition],
                )
            )
        if appeal.status == Status.ANSWERED:
            lines.append(t("submitted.answer", answer=result.faq_answer))
        elif submitted.department:
            lines.append(t("submitted.department", department=submitted.department))
        elif appeal.needs_triage:
            lines.append(t("submitted.triage"))
        if submitted.reply_due_at is not None:
            deadline = local_deadline(submitted.reply_due_at, self.desk.policy.calendar, MINUTE)
            lines.append(t("submitted.deadline", deadline=deadline))
        lines.append(t("submitted.keep_number"))
        turn.say("\n".join(lines))

    def _tell_emergency(self, turn: Turn, submitted: service.Submitted) -> None:
        """Safety advice first; then the case number, and the case stays open for photos and
        the place (the supplement step)."""
        hazard = submitted.classification.hazard
        turn.say(t(f"emergency.{hazard.value}" if hazard else "emergency.other"))
        number = submitted.appeal.number
        turn.goto(CaseStep.SUPPLEMENT, number=number, count=0)
        turn.say(
            t("emergency.filed", number=number),
            Option(t("option.done"), DONE),
            request_location=True,
        )
