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


class CategorySpec(BaseModel):
    """One category of appeals as configured in config.yaml (`categories:`)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    department: str
    disposition: Disposition = Disposition.REFERRAL
    keywords: dict[str, float] = Field(default_factory=dict)
    subcategories: list[str] = Field(default_factory=list)


class FaqEntry(BaseModel):
    """A consultation answered on the spot when one of its patterns matches."""

    model_config = ConfigDict(extra="forbid")

    patterns: list[str]
    answer: str


@dataclass(frozen=True)
class Classification:
    category: str
    disposition: Disposition
    department: str
    urgency: Urgency
    confidence: float
    keywords: tuple[str, ...]
    candidates: tuple[tuple[str, float], ...] = field(default_factory=tuple)
    needs_triage: bool = False
    faq_answer: str | None = None
