"""The staff desk: binding with invite codes, and acting on cases from cards and /todo.

Buttons on cards carry an action and a case number and grant nothing: each press is
checked against the presser's role and department in workflow.staff / the lifecycle.
In a group chat the bot answers only commands, buttons and the presser's own follow-ups.
"""

from __future__ import annotations

from collections.abc import Callable

from handlers.messages import FLAG, MESSAGES, ROLE, STATUS, shown, t
from handlers.turn import Turn
from handlers.types import Kind, Option
from storage.files import FileRejected, FileStore
from storage.models import Appeal
from storage.types import utcnow
from workflow import duty, service, staff
from workflow.cards import local_deadline, staff_options, text
from workflow.followup import Policy, deadline_flag, department_card
from workflow.lifecycle import Action, Actor, LifecycleError, check

COMMANDS = frozenset({"join", "bind", "todo"})
STEPS = frozenset(
    {
        "staff_return",
        "staff_resolve",
        "staff_extend_days",
        "staff_extend_reason",
        "staff_merge",
        "staff_route",
    }
)
IDLE = "idle"
CANCEL = "cancel"


def is_group(turn: Turn) -> bool:
    return turn.inbound.chat_id != turn.inbound.user_id


class StaffDesk:
    def __init__(self, *, policy: Policy, files: FileStore, text_max_chars: int) -> None:
        self.policy = policy
        self.files = files
        self.text_max_chars = text_max_chars
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
            "open": self._open,
        }
        self.steps: dict[str, Callable[[Turn], None]] = {
            "staff_return": self._return,
            "staff_resolve": self._resolve,
            "staff_extend_days": self._extend_days,
            "staff_extend_reason": self._extend_reason,
            "staff_merge": self._merge,
            "staff_route": self._route_typed,
        }

    def takes(self, turn: Turn) -> bool:
        inbound = turn.inbound
        if turn.step in STEPS or is_group(turn):
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
                self._command(turn)
            elif self._pressed(turn).partition(":")[0] in self.buttons:
                self._button(turn)
            elif turn.step in STEPS:
                self.steps[turn.step](turn)
            # Anything else said in a group is not for the bot.
        except LifecycleError as error:
            turn.goto(IDLE)
            turn.say(self._refusal(error))

    def _refusal(self, error: LifecycleError) -> str:
        key = f"staff.refused.{error.code}"
        return t(key if key in MESSAGES else "staff.refused.state")

    # -- commands -----------------------------------------------------------------------

    def _command(self, turn: Turn) -> None:
        inbound, session = turn.inbound, turn.session
        code, _, name = inbound.args.strip().partition(" ")
        if inbound.text == "todo":
            self._todo(turn)
        elif not code:
            turn.say(t(f"staff.usage.{inbound.text}"))
        elif inbound.text == "bind":
            if not is_group(turn):
                turn.say(t("staff.bind_in_group"))
                return
            department = staff.bind_group(
                session, channel=inbound.channel, chat_id=inbound.chat_id, code=code
            )
            turn.say(t("staff.bound", department=department.name))
        else:
            if is_group(turn):
                turn.say(t("staff.join_in_private"))
                return
            binding = staff.join(session, person=turn.person, code=code, name=name.strip() or None)
            where = binding.department or binding.grid or ""
            turn.say(t("staff.joined", role=ROLE[binding.role.value], where=where))

    def _todo(self, turn: Turn) -> None:
        actor = Actor.of(turn.person)
        on_duty = duty.on_duty_today(self.policy, turn.person, utcnow())
        cases = staff.open_cases(turn.session, actor=actor, on_duty=on_duty)
        if not cases:
            turn.say(t("staff.todo.none"))
            return
        now = utcnow()
        lines = [t("staff.todo.head", count=len(cases))]
        listed = cases[:30]
        for index, appeal in enumerate(listed, start=1):
            flag = deadline_flag(appeal, now, self.policy.follow_up.remind_at)
            lines.append(
                t(
                    "staff.todo.item",
                    index=index,
                    flag=FLAG[flag],
                    number=appeal.number,
                    category=appeal.category,
                    status=STATUS[appeal.status],
                    deadline=local_deadline(appeal.finish_due_at, self.policy.calendar),
                )
            )
        # Each case opens as its card, with what this person may do on it.
        opens = [
            Option(t("staff.option.open", number=a.number), f"open:{a.number}") for a in listed
        ]
        turn.say("\n".join(lines), *opens)

    def _open(self, turn: Turn, appeal: Appeal, _: str) -> None:
        """A case from /todo as its card: the buttons where no card reached the person (a
        department without a chat, the console)."""
        actor = self._actor(turn, appeal)
        on_duty = duty.on_duty_today(self.policy, turn.person, utcnow())
        if appeal not in staff.open_cases(turn.session, actor=actor, on_duty=on_duty):
            raise LifecycleError("forbidden", "not on this person's to-do list")
        headline = text("card.headline.todo")
        params, _options = department_card(turn.session, appeal, self.policy, headline)
        options = staff.card_options(turn.session, appeal, actor)
        turn.say(
            t("card.department", **params),
            *(Option(shown(label), value) for label, value in options),
        )

    # -- buttons ------------------------------------------------------------------------

    def _button(self, turn: Turn) -> None:
        action, _, rest = self._pressed(turn).partition(":")
        number, _, argument = rest.partition(":")
        appeal = staff.case(turn.session, number)
        self.buttons[action](turn, appeal, argument)

    def _actor(self, turn: Turn, appeal: Appeal) -> Actor:
        return duty.acting(self.policy, turn.person, appeal, utcnow())

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
        turn.goto("staff_return", number=appeal.number)
        turn.say(t("staff.ask.return", number=appeal.number), Option(t("option.cancel"), CANCEL))

    def _begin_resolve(self, turn: Turn, appeal: Appeal, _: str) -> None:
        check(appeal, Action.RESOLVE, self._actor(turn, appeal))
        turn.goto("staff_resolve", number=appeal.number)
        turn.say(t("staff.ask.resolve", number=appeal.number), Option(t("option.cancel"), CANCEL))

    def _begin_extend(self, turn: Turn, appeal: Appeal, _: str) -> None:
        actor = self._actor(turn, appeal)
        if actor.role.value == "staff" and actor.department_id != appeal.department_id:
            raise LifecycleError("forbidden", "not this department's case")
        turn.goto("staff_extend_days", number=appeal.number)
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
        turn.goto("staff_route", number=appeal.number)
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
        turn.goto("staff_merge", number=appeal.number)
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
        turn.step = "staff_extend_reason"
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
