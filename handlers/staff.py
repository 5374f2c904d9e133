"""The staff desk: binding with invite codes, and acting on cases from cards and /todo.

Buttons on cards carry an action and a case number and grant nothing: each press is
checked against the presser's role and department in workflow.staff / the lifecycle.
In a group chat the bot answers only commands, buttons and the presser's own follow-ups.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from handlers.desk import CANCEL, IDLE
from handlers.staff_commands import COMMANDS, StaffCommands, acting
from handlers.turn import Turn
from messages.catalog import ROLE, refused, shown, t
from messages.types import Kind, Option
from storage.files import FileRejected, FileStore
from storage.models import Appeal
from workflow import service, staff
from workflow.cards import staff_options
from workflow.followup import Policy
from workflow.lifecycle import Action, Actor, LifecycleError, check


class StaffStep(StrEnum):
    RETURN = "staff_return"
    RESOLVE = "staff_resolve"
    EXTEND_DAYS = "staff_extend_days"
    EXTEND_REASON = "staff_extend_reason"
    MERGE = "staff_merge"
    ROUTE = "staff_route"


STAFF_STEPS = frozenset(StaffStep)


class StaffDesk:
    def __init__(
        self, *, policy: Policy, files: FileStore, text_max_chars: int, web_url: str | None
    ) -> None:
        self.policy = policy
        self.files = files
        self.text_max_chars = text_max_chars
        self.commands = StaffCommands(policy, web_url)
        self.buttons: dict[str, Callable[[Turn, Appeal, str], None]] = {
            "sign": self._sign,
            "return": self._begin_return,
            "resolve": self._begin_resolve,
            "extend": self._begin_extend,
            "route": self._route,
            "route_other": self._begin_route,
            "urgent": self._urgent,
            "merge": self._begin_merge,
            "ext_ok": self._extension,
            "ext_no": self._extension,
            "supervise": self._supervise,
            "open": self.commands.open,
        }
        self.steps: dict[str, Callable[[Turn], None]] = {
            StaffStep.RETURN: self._return,
            StaffStep.RESOLVE: self._resolve,
            StaffStep.EXTEND_DAYS: self._extend_days,
            StaffStep.EXTEND_REASON: self._extend_reason,
            StaffStep.MERGE: self._merge,
            StaffStep.ROUTE: self._route_typed,
        }

    def takes(self, turn: Turn) -> bool:
        inbound = turn.inbound
        if turn.step in STAFF_STEPS or turn.inbound.in_group:
            return True
        if inbound.kind is Kind.COMMAND:
            return inbound.text in COMMANDS
        return self._pressed(turn).partition(":")[0] in self.buttons

    def _pressed(self, turn: Turn) -> str:
        """A button's value: pressed, or an offered option typed (its number or label)."""
        inbound = turn.inbound
        if inbound.kind is Kind.BUTTON:
            return inbound.text
        return turn.choice() or ""

    def handle(self, turn: Turn) -> None:
        inbound = turn.inbound
        try:
            if inbound.kind is Kind.COMMAND and inbound.text in COMMANDS:
                self.commands.handle(turn)
            elif self._pressed(turn).partition(":")[0] in self.buttons:
                self._button(turn)
            elif turn.step in STAFF_STEPS:
                self.steps[turn.step](turn)
            # Anything else said in a group is not for the bot.
        except LifecycleError as error:
            turn.goto(IDLE)
            turn.say(refused(error.code))

    # -- buttons ------------------------------------------------------------------------

    def _button(self, turn: Turn) -> None:
        action, _, rest = self._pressed(turn).partition(":")
        number, _, argument = rest.partition(":")
        appeal = staff.case(turn.session, number)
        self.buttons[action](turn, appeal, argument)

    def _actor(self, turn: Turn, appeal: Appeal) -> Actor:
        return acting(self.policy, turn, appeal)

    def _role(self, turn: Turn) -> str:
        return ROLE[turn.person.role]

    def _sign(self, turn: Turn, appeal: Appeal, _: str) -> None:
        staff.sign(
            turn.session, appeal=appeal, actor=self._actor(turn, appeal), policy=self.policy
        )
        remaining = [Option(shown(label), value) for label, value in staff_options(appeal)[1:]]
        turn.say(t("staff.signed", number=appeal.number), *remaining)

    def _begin_return(self, turn: Turn, appeal: Appeal, _: str) -> None:
        check(appeal, Action.RETURN, self._actor(turn, appeal))
        turn.goto(StaffStep.RETURN, number=appeal.number)
        turn.say(t("staff.ask.return", number=appeal.number), Option(t("option.cancel"), CANCEL))

    def _begin_resolve(self, turn: Turn, appeal: Appeal, _: str) -> None:
        check(appeal, Action.RESOLVE, self._actor(turn, appeal))
        turn.goto(StaffStep.RESOLVE, number=appeal.number)
        turn.say(t("staff.ask.resolve", number=appeal.number), Option(t("option.cancel"), CANCEL))

    def _begin_extend(self, turn: Turn, appeal: Appeal, _: str) -> None:
        actor = self._actor(turn, appeal)
        if actor.role.value == "staff" and actor.department_id != appeal.department_id:
            raise LifecycleError("forbidden", "not this department's case")
        turn.goto(StaffStep.EXTEND_DAYS, number=appeal.number)
        turn.say(
            t("staff.ask.extend_days", number=appeal.number), Option(t("option.cancel"), CANCEL)
        )

    def _route(self, turn: Turn, appeal: Appeal, department: str) -> None:
        staff.route(
            turn.session,
            appeal=appeal,
            actor=self._actor(turn, appeal),
            department=department,
            policy=self.policy,
        )
        turn.say(t("staff.routed", number=appeal.number, department=department))

    def _begin_route(self, turn: Turn, appeal: Appeal, _: str) -> None:
        staff.center_only(self._actor(turn, appeal))
        names = "、".join(staff.department_names(turn.session))
        turn.goto(StaffStep.ROUTE, number=appeal.number)
        turn.say(
            t("staff.ask.route", number=appeal.number, names=names),
            Option(t("option.cancel"), CANCEL),
        )

    def _route_typed(self, turn: Turn) -> None:
        department = self._text(turn)
        if department is None:
            return
        self._route(turn, self._case_in_step(turn), department)
        turn.goto(IDLE)

    def _urgent(self, turn: Turn, appeal: Appeal, _: str) -> None:
        note = t("note.urgent", role=self._role(turn))
        staff.mark_urgent(turn.session, appeal=appeal, actor=self._actor(turn, appeal), note=note)
        turn.say(t("staff.marked_urgent", number=appeal.number))

    def _begin_merge(self, turn: Turn, appeal: Appeal, _: str) -> None:
        staff.center_only(self._actor(turn, appeal))
        turn.goto(StaffStep.MERGE, number=appeal.number)
        turn.say(t("staff.ask.merge", number=appeal.number), Option(t("option.cancel"), CANCEL))

    def _extension(self, turn: Turn, appeal: Appeal, _: str) -> None:
        approve = self._pressed(turn).startswith("ext_ok")
        days = staff.decide_extension(
            turn.session,
            appeal=appeal,
            actor=self._actor(turn, appeal),
            approve=approve,
            policy=self.policy,
        )
        key = "staff.extension_approved" if approve else "staff.extension_refused"
        turn.say(t(key, number=appeal.number, days=days))

    def _supervise(self, turn: Turn, appeal: Appeal, _: str) -> None:
        note = t("note.supervise", role=self._role(turn))
        staff.supervise(turn.session, appeal=appeal, actor=self._actor(turn, appeal), note=note)
        turn.say(t("staff.supervised", number=appeal.number))

    # -- follow-up steps ----------------------------------------------------------------

    def _case_in_step(self, turn: Turn) -> Appeal:
        return staff.case(turn.session, str(turn.data.get("number", "")))

    def _text(self, turn: Turn) -> str | None:
        """The typed text of this step, or None after telling the presser what is wanted."""
        inbound = turn.inbound
        text = inbound.text.strip() if inbound.kind is Kind.TEXT else ""
        if not text or len(text) > self.text_max_chars:
            turn.say(
                t("staff.need_text", max=self.text_max_chars), Option(t("option.cancel"), CANCEL)
            )
            return None
        return text

    def _return(self, turn: Turn) -> None:
        reason = self._text(turn)
        if reason is None:
            return
        appeal = self._case_in_step(turn)
        staff.send_back(
            turn.session,
            appeal=appeal,
            actor=self._actor(turn, appeal),
            reason=reason,
            policy=self.policy,
        )
        turn.goto(IDLE)
        turn.say(t("staff.returned", number=appeal.number))

    def _resolve(self, turn: Turn) -> None:
        appeal = self._case_in_step(turn)
        if turn.inbound.kind is Kind.PHOTO:
            try:
                photo = self.files.store_image(turn.inbound.data or b"")
            except FileRejected:
                turn.say(t("bad.photo_type"))
                return
            service.attach(turn.session, appeal, photo, kind="result")
            turn.say(t("staff.photo_received"), Option(t("option.cancel"), CANCEL))
            return
        result = self._text(turn)
        if result is None:
            return
        staff.resolve(
            turn.session,
            appeal=appeal,
            actor=self._actor(turn, appeal),
            result=result,
            policy=self.policy,
        )
        turn.goto(IDLE)
        turn.say(t("staff.resolved", number=appeal.number))

    def _extend_days(self, turn: Turn) -> None:
        text = turn.inbound.text.strip() if turn.inbound.kind is Kind.TEXT else ""
        if not text.isdigit() or not 1 <= int(text) <= staff.MAX_EXTENSION_DAYS:
            turn.say(
                t("staff.ask.extend_days", number=turn.data.get("number", "")),
                Option(t("option.cancel"), CANCEL),
            )
            return
        turn.data["days"] = int(text)
        turn.step = StaffStep.EXTEND_REASON
        turn.say(t("staff.ask.extend_reason"), Option(t("option.cancel"), CANCEL))

    def _extend_reason(self, turn: Turn) -> None:
        reason = self._text(turn)
        if reason is None:
            return
        appeal = self._case_in_step(turn)
        days = int(turn.data.get("days", 0))
        staff.request_extension(
            turn.session,
            appeal=appeal,
            actor=self._actor(turn, appeal),
            days=days,
            reason=reason,
            note=t("note.extension_request", days=days, reason=reason),
        )
        turn.goto(IDLE)
        turn.say(t("staff.extension_requested", number=appeal.number, days=days))

    def _merge(self, turn: Turn) -> None:
        target = self._text(turn)
        if target is None:
            return
        appeal = self._case_in_step(turn)
        into = staff.case(turn.session, target.upper())
        staff.merge(
            turn.session,
            appeal=appeal,
            into=into,
            actor=self._actor(turn, appeal),
            policy=self.policy,
        )
        turn.goto(IDLE)
        turn.say(t("staff.merged", number=appeal.number, into=into.number))
