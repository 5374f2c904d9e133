"""Value types shared by the classifier and its callers; no messenger or storage knowledge."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Disposition(StrEnum):
    """How the center deals with an appeal."""

    CONSULTATION = "consultation"  # answered on the spot
    IMMEDIATE = "immediate"  # 即办: the center handles it the same day
    REFERRAL = "referral"  # 流转: a department or township handles it with a deadline


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"  # safety risk, needs the duty leader today
    LIFE = "life"  # danger to life: tell the resident to call 110/119/120, alert at once

    @property
    def rank(self) -> int:
        return list(Urgency).index(self)


class Hazard(StrEnum):
    """What kind of ongoing danger a message reports: it decides the safety advice."""

    GAS = "gas"
    FIRE = "fire"
    ELECTRIC = "electric"
    VIOLENCE = "violence"  # someone attacking, or threatening to harm themselves
    MEDICAL = "medical"  # someone collapsed, trapped, drowning


class FaqEntry(BaseModel):
    """A consultation answered on the spot when one of its patterns matches.

    A pattern is one or more terms separated by spaces; it matches when every term occurs
    in the message ("居住证 材料" matches 请问办居住证要带什么材料).
    """

    model_config = ConfigDict(extra="forbid")

    patterns: list[str]
    answer: str


class AppealType(BaseModel):
    """One type of appeal as configured in config.yaml (`types:`)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    category: str  # the group residents, cards and reports show
    department: str  # a department's name, or "{township}": the township in charge
    topic: str | None = None  # the learned topic (nlp/data/keywords.tsv) that supports it
    # How an action request of this type is handled (consultations are decided by intent).
    disposition: Disposition = Disposition.REFERRAL
    urgency: Urgency = Urgency.NORMAL  # the floor: a 安全隐患 is never normal
    keywords: dict[str, float] = Field(default_factory=dict)
    faq: list[FaqEntry] = Field(default_factory=list)

    @property
    def fallback(self) -> bool:
        """A topic's catch-all type: no keywords of its own."""
        return self.topic is not None and not self.keywords


@dataclass(frozen=True)
class Classification:
    type: str
    category: str
    topic: str  # the learned topic's best guess (the 泰迪杯 label set)
    disposition: Disposition
    department: str
    urgency: Urgency
    confidence: float
    keywords: tuple[str, ...]
    candidates: tuple[tuple[str, float], ...] = field(default_factory=tuple)
    needs_triage: bool = False
    faq_answer: str | None = None
    hazard: Hazard | None = None
    consultation: bool = False  # the resident asks for information, not for action


class Calibration(BaseModel):
    """How the classifier's signals add up on one scale of logits (nlp/classifier.py).

    Defaults were chosen by `appealbot nlp calibrate` on the labelled sets' training part.
    """

    model_config = ConfigDict(extra="forbid")

    topic_weight: float = Field(default=1.0, ge=0)  # x log P(topic) of the learned topics
    topic_floor: float = Field(default=0.05, gt=0, le=1)  # P(topic) below this counts as this
    learned_weight: float = Field(default=2.0, ge=0)  # x the learned type table's logit
    learned_min: float = Field(default=1.5, ge=0)  # learned logit a type needs without keywords
    fallback_prior: float = Field(default=0.5)  # a topic's catch-all type's own logit
    saturation: float = Field(default=0.0, ge=0, le=1)  # each further keyword of a type counts x
    temperature: float = Field(default=1.0, gt=0)  # confidence = softmax(logits / temperature)
    # The learned urgency table's P(life): a danger term the rules call LIFE stands only with
    # at least `life_veto` (figures of speech, letters about the past), an emergency type with
    # no danger term with `life_with_type`; with neither, `life_alone` is enough. From
    # `life_sure` the table decides alone, over the rules' doubts (a hedge, a panicked
    # question, a term they judge past or feared).
    life_veto: float = Field(default=0.05, ge=0, le=1)
    life_sure: float = Field(default=0.5, ge=0, le=1)
    life_with_type: float = Field(default=0.05, ge=0, le=1)
    life_alone: float = Field(default=0.25, ge=0, le=1)
    # The learned disposition table likewise: P(consultation) vetoes the rules' consultation
    # below `consult_veto` and makes a question one from `consult_alone`; P(immediate) refers
    # a type handled at once below `immediate_veto` and handles any type at once from
    # `immediate_alone`.
    consult_veto: float = Field(default=0.1, ge=0, le=1)
    consult_alone: float = Field(default=0.6, ge=0, le=1)
    immediate_veto: float = Field(default=0.1, ge=0, le=1)
    immediate_alone: float = Field(default=0.9, ge=0, le=1)


TOWNSHIP_SUFFIXES = ("街道办事处", "街道", "办事处", "镇", "乡")


def township_stem(name: str) -> str:
    """东湖街道 -> 东湖: how residents and grid codes name a township."""
    for suffix in TOWNSHIP_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name.removesuffix(suffix)
    return name
