"""The classifier's judgements past the appeal type: whether a message reports an ongoing
danger to life, how it is handled (consultation, 即办 or referral), each weighing the rules
against the learned tables as the calibration says; and the words shown as its reasons."""

from __future__ import annotations

from collections.abc import Collection

from nlp import rules
from nlp.keywords import softmax
from nlp.scoring import Evidence
from nlp.tokenizer import BIGRAM_MARK
from nlp.types import AppealType, Calibration, Disposition, Urgency

URGENCY_LABELS = tuple(level.value for level in Urgency)
DISPOSITION_LABELS = tuple(disposition.value for disposition in Disposition)
EXPLAINING_KEYWORDS = 5


def probability(evidence: Evidence, label: Urgency | Disposition) -> float | None:
    """P(label) of a learned table (urgency or disposition); None where the table knows
    none of the message's words."""
    if not evidence.norm:
        return None
    labels = URGENCY_LABELS if isinstance(label, Urgency) else DISPOSITION_LABELS
    return softmax(evidence.logits())[labels.index(label.value)]


def judge_life(
    c: Calibration,
    text: str,
    danger: rules.Danger,
    spec: AppealType,
    life: float | None,
    consultation: bool,
) -> rules.Danger:
    """Whether the message reports an ongoing danger to life, from three witnesses.

    The learned urgency table's P(life) (`life`) of at least `life_sure` decides alone.
    Below it, the rules judge the danger terms they know (asserted, feared, denied,
    over), and the table vetoes an asserted term below `life_veto` (a figure of speech,
    a letter about the past). Where the rules know no danger term, an emergency type
    (urgency floor LIFE) that won with P(life) of at least `life_with_type`, or P(life) of
    at least `life_alone`, makes it LIFE, unless the message asks a question or says it
    is not happening now. Without the table's opinion (None) the rules and the type
    decide.
    """
    if danger.urgency is Urgency.LIFE:
        vetoed = life is not None and life < c.life_veto
        return rules.Danger(Urgency.URGENT) if vetoed else danger
    hazard = rules.named_hazard(text)
    if life is not None and life >= c.life_sure:
        return rules.Danger(Urgency.LIFE, hazard)
    if consultation or hazard is not None:
        return danger
    emergency_type = spec.urgency is Urgency.LIFE and (life is None or life >= c.life_with_type)
    if emergency_type or (life is not None and life >= c.life_alone):
        if rules.unreal(text):
            return rules.Danger(Urgency.URGENT)
        return rules.Danger(Urgency.LIFE)
    return danger


def disposition(
    c: Calibration,
    spec: AppealType,
    text: str,
    urgency: Urgency,
    consultation: bool,
    evidence: Evidence,
) -> Disposition:
    """LIFE is handled at once. A consultation is what the rules call one, unless the
    learned disposition table finds it below `consult_veto`, or a question it finds at
    least `consult_alone`. Otherwise the type's disposition, but a type handled at once
    is referred when something new is asked for (增设, 安装…) or the table finds 即办
    below `immediate_veto`, and any type is handled at once at `immediate_alone`."""
    if urgency is Urgency.LIFE:
        return Disposition.IMMEDIATE
    asked = probability(evidence, Disposition.CONSULTATION)
    if consultation and (asked is None or asked >= c.consult_veto):
        return Disposition.CONSULTATION
    if asked is not None and asked >= c.consult_alone and rules.is_question(text):
        return Disposition.CONSULTATION
    at_once = probability(evidence, Disposition.IMMEDIATE)
    if spec.disposition is Disposition.IMMEDIATE:
        planned = rules.asks_for_planning(text)
        doubted = at_once is not None and at_once < c.immediate_veto
        return Disposition.REFERRAL if planned or doubted else Disposition.IMMEDIATE
    if at_once is not None and at_once >= c.immediate_alone:
        return Disposition.IMMEDIATE
    return spec.disposition


def explaining_words(
    keywords: list[str], learned: list[str], topic: list[str], generic: Collection[str]
) -> tuple[str, ...]:
    """The words that decided, as a dispatcher would recognise them: the type's keywords
    (strongest first), then its learned words, then its topic's; never a single character
    or a generic word."""
    shown: list[str] = []
    for word in [*keywords, *learned, *topic]:
        if (
            len(word) > 1
            and not word.startswith(BIGRAM_MARK)
            and word not in generic
            and word not in shown
        ):
            shown.append(word)
            if len(shown) == EXPLAINING_KEYWORDS:
                break
    return tuple(shown)
