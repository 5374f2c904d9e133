"""Shared builders for the nlp tests: the shipped classifier, and hand-made types."""

from __future__ import annotations

import functools
from pathlib import Path

from bot.classifier import build_classifier
from bot.settings import load_settings
from nlp.classifier import Classifier
from nlp.types import AppealType, Disposition, FaqEntry

CONFIG = Path(__file__).resolve().parent.parent / "config.yaml"
FAQ_ANSWER = "社保卡补办请携带身份证到社保经办窗口，当场可办。"


def make_types() -> list[AppealType]:
    """A small taxonomy: one catch-all per topic of the packaged topic table, a few types."""
    topics = [
        "城乡建设",
        "环境保护",
        "交通运输",
        "教育文体",
        "劳动和社会保障",
        "商贸旅游",
        "卫生计生",
    ]
    return [
        *(AppealType(name=f"{topic}其他", category=topic, department="住建局", topic=topic)
          for topic in topics),
        AppealType(
            name="路灯故障",
            category="市容环卫",
            department="城管局",
            topic="城乡建设",
            disposition=Disposition.IMMEDIATE,
            keywords={"路灯": 3, "灯不亮": 3},
        ),
        AppealType(
            name="盗窃", category="治安", department="派出所", keywords={"被偷": 3, "盗窃": 3}
        ),
        AppealType(
            name="社保",
            category="劳动和社会保障",
            department="人社局",
            topic="劳动和社会保障",
            keywords={"社保": 3},
            faq=[FaqEntry(patterns=["社保卡 补办"], answer=FAQ_ANSWER)],
        ),
        AppealType(
            name="村务",
            category="农村事务",
            department="{township}",
            topic="城乡建设",
            keywords={"村委会": 3, "宅基地": 3},
        ),
    ]  # fmt: skip


@functools.cache
def shared_classifier() -> Classifier:
    """The classifier as shipped: config.yaml and the packaged tables."""
    return build_classifier(load_settings(CONFIG))


@functools.cache
def small_classifier() -> Classifier:
    return Classifier(
        make_types(),
        townships=["东湖街道", "青山镇"],
        types_path=None,
        urgency_path=None,
        min_confidence=0.3,
    )
