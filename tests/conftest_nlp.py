"""Shared builders for the nlp tests: hand-made categories and one Classifier per session."""

from __future__ import annotations

import functools

from nlp.classifier import Classifier
from nlp.types import CategorySpec, Disposition, FaqEntry

FAQ_ANSWER = "社保卡补办请携带身份证到社保经办窗口，当场可办。"


def make_categories() -> list[CategorySpec]:
    return [
        CategorySpec(name="城乡建设", department="住建局"),
        CategorySpec(name="环境保护", department="生态环境局"),
        CategorySpec(name="交通运输", department="交通运输局"),
        CategorySpec(name="教育文体", department="教育局"),
        CategorySpec(name="劳动和社会保障", department="人社局"),
        CategorySpec(name="商贸旅游", department="市场监管局"),
        CategorySpec(name="卫生计生", department="卫健委"),
        CategorySpec(
            name="矛盾纠纷",
            department="{township}司法所",
            keywords={"纠纷": 2, "邻居": 1.5, "离婚": 2, "借钱不还": 3, "吵架": 2},
        ),
        CategorySpec(
            name="治安",
            department="派出所",
            keywords={"偷": 2, "盗窃": 3, "打架": 2.5, "诈骗": 2.5, "赌博": 3},
        ),
        CategorySpec(
            name="民政救助",
            department="民政局",
            keywords={"低保": 3, "救助": 2, "残疾": 2, "养老": 1.5, "困难": 1},
        ),
        CategorySpec(
            name="政务服务咨询",
            department="政务服务中心",
            disposition=Disposition.CONSULTATION,
            keywords={"办理": 1.5, "证明": 1.5, "手续": 1.5, "材料": 1, "流程": 1.5},
        ),
    ]


@functools.cache
def shared_classifier() -> Classifier:
    faq = [FaqEntry(patterns=["社保卡补办", "補辦社保卡"], answer=FAQ_ANSWER)]
    return Classifier(make_categories(), faq, min_confidence=0.25)
