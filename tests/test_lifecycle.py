"""Every declared transition, every status it must refuse, and who may make it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session, select

from bot.app import App, build
from bot.settings import Secrets, load_settings
from nlp.classifier import Classifier
from storage.models import Appeal, AppealEvent, Department, Person
from storage.roles import Role
from tests.conftest import ROOT
from tests.dialog_helpers import bound
from workflow.lifecycle import (
    SYSTEM,
    TRANSITIONS,
    Action,
    Actor,
    LifecycleError,
    Status,
    apply,
)


@pytest.fixture(scope="module")
def shared_app(classifier: Classifier, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One real app (SQLite file, migrated schema, the configured departments) for the module:
    the tests only flush, and each one's work is rolled back."""
    settings = load_settings(ROOT / "config.yaml")
    settings.storage.data_dir = tmp_path_factory.mktemp("lifecycle")
    url = f"sqlite:///{settings.storage.data_dir / 'app.db'}"
    built = build(settings, Secrets(database_url=url), classifier)
    yield built
    built.engine.dispose()


@pytest.fixture
def session(shared_app: App) -> Iterator[Session]:
    with shared_app.sessions() as s:
        yield s
        s.rollback()


def _person(session: Session, role: Role, department: Department | None = None) -> Person:
    person = Person(
        channel="test",
        external_id=f"{role}-{len(session.exec(select(Person)).all())}",
        role=role.value,
        department_id=department.id if department else None,
    )
    session.add(person)
    session.flush()
    return person


def _appeal(
    session: Session,
    status: Status,
    resident: Person,
    department: Department,
    reporter: Person | None = None,
) -> Appeal:
    appeal = Appeal(
        number=f"SQ20261123-{len(session.exec(select(Appeal)).all()) + 1:04d}",
        status=status.value,
        channel="test",
        resident_id=resident.id,  # type: ignore[arg-type]
        text="小区门口的路灯坏了很久",
        category="城乡建设",
        disposition="referral",
        department_id=department.id,
        reporter_id=reporter.id if reporter else None,
    )
    session.add(appeal)
    session.flush()
    return appeal


@pytest.fixture
def world(session: Session) -> dict[str, object]:
    department = bound(session, "住建局")
    other = bound(session, "交通运输局")
    resident = _person(session, Role.RESIDENT)
    return {
        "department": department,
        "resident": resident,
        "other_resident": _person(session, Role.RESIDENT),
        "staff": _person(session, Role.STAFF, department),
        "other_staff": _person(session, Role.STAFF, other),
        "dispatcher": _person(session, Role.DISPATCHER),
        "leader": _person(session, Role.LEADER),
        "admin": _person(session, Role.ADMIN),
        "grid_worker": _person(session, Role.GRID_WORKER),
    }


def _actor_for(role: Role, world: dict[str, object]) -> Actor:
    if role is Role.SYSTEM:
        return SYSTEM
    person = world[role.value]
    assert isinstance(person, Person)
    return Actor.of(person)


LEGAL = [(action, source) for action, tr in TRANSITIONS.items() for source in sorted(tr.sources)]
ILLEGAL = [
    (action, source)
    for action, tr in TRANSITIONS.items()
    for source in Status
    if source not in tr.sources
]


@pytest.mark.parametrize(("action", "source"), LEGAL)
def test_every_legal_transition_moves_and_records(
    session: Session, world: dict[str, object], action: Action, source: Status
) -> None:
    transition = TRANSITIONS[action]
    resident, department = world["resident"], world["department"]
    assert isinstance(resident, Person) and isinstance(department, Department)
    reporter = world["grid_worker"]
    assert isinstance(reporter, Person)
    for role in sorted(transition.roles):
        appeal = _appeal(session, source, resident, department, reporter)
        event = apply(session, appeal, action, _actor_for(role, world), "理由或结果说明")
        assert appeal.status == transition.target
        assert (event.action, event.from_status, event.to_status) == (
            action.value,
            source.value,
            transition.target.value,
        )
        assert event.actor_role == role.value
    session.flush()
    stored = session.exec(select(AppealEvent).where(AppealEvent.action == action.value)).all()
    assert len(stored) == len(transition.roles)


@pytest.mark.parametrize(("action", "source"), ILLEGAL)
def test_every_illegal_transition_is_refused(
    session: Session, world: dict[str, object], action: Action, source: Status
) -> None:
    resident, department = world["resident"], world["department"]
    assert isinstance(resident, Person) and isinstance(department, Department)
    appeal = _appeal(session, source, resident, department)
    role = sorted(TRANSITIONS[action].roles)[0]
    with pytest.raises(LifecycleError) as raised:
        apply(session, appeal, action, _actor_for(role, world), "说明")
    assert raised.value.code == "state"
    assert appeal.status == source
    assert session.exec(select(AppealEvent)).all() == []


@pytest.mark.parametrize("action", list(TRANSITIONS))
def test_roles_not_declared_may_not_act(
    session: Session, world: dict[str, object], action: Action
) -> None:
    transition = TRANSITIONS[action]
    resident, department = world["resident"], world["department"]
    assert isinstance(resident, Person) and isinstance(department, Department)
    source = sorted(transition.sources)[0]
    for role in Role:
        if role in transition.roles:
            continue
        appeal = _appeal(session, source, resident, department)
        with pytest.raises(LifecycleError) as raised:
            apply(session, appeal, action, _actor_for(role, world), "说明")
        assert raised.value.code == "forbidden"
        assert appeal.status == source


def test_staff_of_another_department_is_refused(
    session: Session, world: dict[str, object]
) -> None:
    resident, department, other = world["resident"], world["department"], world["other_staff"]
    assert isinstance(resident, Person) and isinstance(department, Department)
    assert isinstance(other, Person)
    appeal = _appeal(session, Status.DISPATCHED, resident, department)
    with pytest.raises(LifecycleError, match="department"):
        apply(session, appeal, Action.SIGN, Actor.of(other))
    assert appeal.status == Status.DISPATCHED


def test_a_resident_acts_only_on_their_own_appeal(
    session: Session, world: dict[str, object]
) -> None:
    resident, department = world["resident"], world["department"]
    stranger = world["other_resident"]
    assert isinstance(resident, Person) and isinstance(department, Department)
    assert isinstance(stranger, Person)
    appeal = _appeal(session, Status.SIGNED, resident, department)
    with pytest.raises(LifecycleError) as raised:
        apply(session, appeal, Action.WITHDRAW, Actor.of(stranger), "不想要了")
    assert raised.value.code == "forbidden"
    apply(session, appeal, Action.WITHDRAW, Actor.of(resident), "问题已自行解决")
    assert appeal.status == Status.WITHDRAWN


@pytest.mark.parametrize("action", [action for action, tr in TRANSITIONS.items() if tr.needs_note])
def test_transitions_that_need_a_note_refuse_an_empty_one(
    session: Session, world: dict[str, object], action: Action
) -> None:
    transition = TRANSITIONS[action]
    resident, department = world["resident"], world["department"]
    assert isinstance(resident, Person) and isinstance(department, Department)
    appeal = _appeal(session, sorted(transition.sources)[0], resident, department)
    role = sorted(transition.roles)[0]
    for note in (None, "", "   "):
        with pytest.raises(LifecycleError) as raised:
            apply(session, appeal, action, _actor_for(role, world), note)
        assert raised.value.code == "note"


def test_reopen_counts_重办(session: Session, world: dict[str, object]) -> None:
    resident, department, staff = world["resident"], world["department"], world["staff"]
    assert isinstance(resident, Person) and isinstance(department, Department)
    assert isinstance(staff, Person)
    appeal = _appeal(session, Status.RESOLVED, resident, department)
    apply(session, appeal, Action.REOPEN, Actor.of(resident), "路灯还是不亮")
    apply(session, appeal, Action.SIGN, Actor.of(staff))
    apply(session, appeal, Action.RESOLVE, Actor.of(staff), "已更换灯泡")
    apply(session, appeal, Action.REOPEN, Actor.of(resident), "又坏了")
    assert appeal.reopen_count == 2
    assert appeal.status == Status.REOPENED


def test_a_grid_worker_resolves_only_their_own_reports(
    session: Session, world: dict[str, object]
) -> None:
    resident, department, worker = world["resident"], world["department"], world["grid_worker"]
    assert isinstance(resident, Person) and isinstance(department, Department)
    assert isinstance(worker, Person)
    someone_elses = _appeal(session, Status.ASSIGNED, resident, department)
    with pytest.raises(LifecycleError) as raised:
        apply(session, someone_elses, Action.RESOLVE, Actor.of(worker), "已处理")
    assert raised.value.code == "forbidden"
    own = _appeal(session, Status.ASSIGNED, resident, department, worker)
    apply(session, own, Action.RESOLVE, Actor.of(worker), "现场已清理")
    assert own.status == Status.RESOLVED
