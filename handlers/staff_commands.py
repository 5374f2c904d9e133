"""Staff's commands: /join and /bind with an invite code, /todo, and a case opened from it
as its card with the buttons the person may press."""

from __future__ import annotations

from handlers.turn import Turn
from messages.catalog import FLAG, ROLE, STATUS, shown, t
from messages.types import Option
from storage.models import Appeal
from storage.types import utcnow
from workflow import duty, signin, staff
from workflow.cards import local_deadline, text
from workflow.followup import Policy, deadline_flag, department_card
from workflow.lifecycle import Actor, LifecycleError

COMMANDS = frozenset({"join", "bind", "todo", "web"})


def acting(policy: Policy, turn: Turn, appeal: Appeal) -> Actor:
    """Who acts on the case: the person, with the duty roster's rights on a day off."""
    return duty.acting(policy, turn.person, appeal, utcnow())


class StaffCommands:
    def __init__(self, policy: Policy, web_url: str | None) -> None:
        self.policy = policy
        self.web_url = web_url

    def handle(self, turn: Turn) -> None:
        inbound, session = turn.inbound, turn.session
        code, _, name = inbound.args.strip().partition(" ")
        if inbound.text == "todo":
            self._todo(turn)
        elif inbound.text == "web":
            self._web(turn)
        elif not code:
            turn.say(t(f"staff.usage.{inbound.text}"))
        elif inbound.text == "bind":
            if not turn.inbound.in_group:
                turn.say(t("staff.bind_in_group"))
                return
            department = staff.bind_group(
                session, channel=inbound.channel, chat_id=inbound.chat_id, code=code
            )
            turn.say(t("staff.bound", department=department.name))
        else:
            if turn.inbound.in_group:
                turn.say(t("staff.join_in_private"))
                return
            binding = staff.join(session, person=turn.person, code=code, name=name.strip() or None)
            where = binding.department or binding.grid or ""
            turn.say(t("staff.joined", role=ROLE[binding.role.value], where=where))

    def _web(self, turn: Turn) -> None:
        """/web: a one-time sign-in link to the web console, in a private chat only."""
        if turn.inbound.in_group:
            turn.say(t("staff.web.in_private"))
        elif self.web_url is None:
            turn.say(t("staff.web.off"))
        else:
            try:
                token = signin.create_link(turn.session, turn.person)
            except signin.SignInRefused:  # not the center's staff
                turn.say(t("staff.web.not_staff"))
                return
            url = f"{self.web_url}/signin/{token}"
            turn.say(t("staff.web.link", url=url, minutes=signin.LINK_MINUTES))

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

    def open(self, turn: Turn, appeal: Appeal, _: str) -> None:
        """A case from /todo as its card: the buttons where no card reached the person (a
        department without a chat, the console)."""
        actor = acting(self.policy, turn, appeal)
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
