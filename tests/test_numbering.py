"""Case numbers stay unique when many residents submit at the same moment."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import select

from bot.app import App
from storage.db import transaction
from storage.models import Appeal
from workflow import service
from workflow.service import Draft


def _submit(app: App, index: int) -> str:
    with transaction(app.sessions) as session:
        resident = service.person_for(session, channel="console", external_id=f"r{index}")
        submitted = service.submit(
            session,
            resident=resident,
            channel="console",
            draft=Draft(text=f"第{index}号楼门口的路灯不亮了，晚上出行很不方便"),
            classifier=app.dialog.classifier,
            policy=app.dialog.policy,
        )
        return submitted.appeal.number


def test_fifty_concurrent_submits_get_fifty_distinct_numbers(any_app: App) -> None:
    with ThreadPoolExecutor(max_workers=50) as pool:
        numbers = list(pool.map(lambda i: _submit(any_app, i), range(50)))
    assert len(set(numbers)) == 50
    assert all(re.fullmatch(r"SQ\d{8}-\d{4}", n) for n in numbers)
    sequence = sorted(int(n[-4:]) for n in numbers)
    assert sequence == list(range(1, 51))
    with any_app.sessions() as session:
        assert len(session.exec(select(Appeal)).all()) == 50
