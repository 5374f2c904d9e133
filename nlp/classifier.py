"""Classify an appeal: danger first, then intent, then its type on one calibrated scale.

Order of decisions:
1. Danger (`rules.detect_danger`): an ongoing danger to life is LIFE with its hazard, a
   hypothetical or a risk URGENT at most. LIFE is handled at once (immediate), never triaged.
2. Intent (`rules.is_consultation`): asking for information, not for action.
3. Type. Every configured type gets a logit, all on one scale:
       hand keywords (phrases found inside words, homophones at a discount; the strongest
       counts fully, each further one x `saturation`)
     + `learned_weight` x the learned type table's logit (nlp/data/types.tsv: the message's
       words and, as a back-off, the character pairs of its opening)
     + `topic_weight` x log P(topic), the learned 泰迪杯 topic table's probability of the
       type's topic (floored at `topic_floor`; a type without a topic gets the best topic's)
     + `fallback_prior` for a topic's catch-all type.
   A type with keywords is a candidate only with evidence of its own (a keyword, or a
   learned logit of `learned_min`); diffuse context alone picks a topic's catch-all type.
   The confidence is softmax(logits / `temperature`) of the winner; below `min_confidence`
   the case goes to 人工研判 and the resident is told no category.
4. Disposition: LIFE → immediate; a consultation → consultation (with the FAQ answer when one
   matches); a type handled at once → immediate unless something new is asked for (增设,
   安装…); otherwise referral. Urgency is the danger found, at least the type's floor.
   An emergency type (燃气火灾触电险情, 人身安全险情) that wins a message with none of the
   rules' danger terms ("商场三楼有火", "工地塌了底下有人") is LIFE too, unless the message
   asks a question or says the danger is not happening now.

Departments "{township}" are replaced by the township of the grid, or of the place named in
the text; where neither is known the case goes to 人工研判 and the department reads
`township_fallback` ("属地乡镇（街道）").
"""

from __future__ import annotations

import copy
import logging
import math
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path

from nlp import judgement, rules
from nlp.judgement import DISPOSITION_LABELS, URGENCY_LABELS
from nlp.keywords import (
    DISPOSITION_PATH,
    KEYWORDS_PATH,
    TYPES_PATH,
    URGENCY_PATH,
    read_table,
    softmax,
)
from nlp.phrases import Keyword, Match, PhraseMatcher, strongest
from nlp.scoring import Evidence, LinearTable, TableStack
from nlp.tokenizer import (
    TextTokenizer,
    char_bigrams,
    default_tokenizer,
    generic_words,
)
from nlp.types import (
    AppealType,
    Calibration,
    Classification,
    Disposition,
    FaqEntry,
    Urgency,
    township_stem,
)

logger = logging.getLogger(__name__)

# Only the start of a message is scored; appeals longer than this are rare (< 0.1 %).
MAX_CHARS = 5000
TOWNSHIP_FALLBACK = "属地乡镇（街道）"
CANDIDATES = 3


def _table(labels: Sequence[str], path: Path | None) -> LinearTable:
    """A learned table; without its file, an empty one (it has no opinion)."""
    return LinearTable(labels, read_table(path) if path is not None and path.exists() else {})


class Classifier:
    """Build once at start-up (it loads jieba and the tables), then call `classify`."""

    def __init__(
        self,
        types: Sequence[AppealType],
        *,
        keywords_path: Path = KEYWORDS_PATH,
        types_path: Path | None = TYPES_PATH,
        urgency_path: Path | None = URGENCY_PATH,
        disposition_path: Path | None = DISPOSITION_PATH,
        townships: Sequence[str] = (),
        min_confidence: float = 0.35,
        calibration: Calibration | None = None,
        tokenizer: TextTokenizer | None = None,
        township_fallback: str = TOWNSHIP_FALLBACK,
        max_chars: int = MAX_CHARS,
    ) -> None:
        if not types:
            raise ValueError("at least one appeal type is needed")
        self.tokenizer = tokenizer or default_tokenizer()
        self.types = tuple(types)
        self.names = tuple(spec.name for spec in self.types)
        if len(set(self.names)) != len(self.names):
            raise ValueError("duplicate type names")
        self.min_confidence = min_confidence
        self.calibration = calibration or Calibration()
        self.township_fallback = township_fallback
        self.townships = tuple((township_stem(name), name) for name in townships)
        self.max_chars = max_chars
        normalize = self.tokenizer.normalize
        self.faq = tuple(
            (
                position,
                FaqEntry(patterns=[normalize(p) for p in entry.patterns], answer=entry.answer),
            )
            for position, spec in enumerate(self.types)
            for entry in spec.faq
        )
        topic_table = read_table(keywords_path)
        self.topics = LinearTable(sorted(topic_table), topic_table)
        self._check_topics()
        # Per type: a topic's catch-all type?, and its topic's position (len: no topic).
        self._type_topics = tuple(
            (
                spec.fallback,
                self.topics.labels.index(spec.topic) if spec.topic else len(self.topics.labels),
            )
            for spec in self.types
        )
        learned = read_table(types_path) if types_path is not None and types_path.exists() else {}
        unknown = sorted(set(learned) - set(self.names))
        if unknown:
            logger.warning("learned type table has types not in config, ignored: %s", unknown)
        self.learned = LinearTable(self.names, learned)
        self.urgency = _table(URGENCY_LABELS, urgency_path)
        self.dispositions = _table(DISPOSITION_LABELS, disposition_path)
        self._stack = self._stack_tables()
        self.matcher = PhraseMatcher(
            Keyword(normalize(word.strip()), position, weight)
            for position, spec in enumerate(self.types)
            for word, weight in spec.keywords.items()
        )
        self.generic = generic_words()

    def variant(
        self,
        *,
        type_table: Path | None = None,
        urgency_table: Path | None = None,
        disposition_table: Path | None = None,
        calibration: Calibration | None = None,
    ) -> Classifier:
        """The same classifier with other learned tables or calibration (the tokenizer and
        every other table are shared)."""
        other = copy.copy(self)
        if type_table is not None:
            other.learned = LinearTable(self.names, read_table(type_table))
        if urgency_table is not None:
            other.urgency = _table(URGENCY_LABELS, urgency_table)
        if disposition_table is not None:
            other.dispositions = _table(DISPOSITION_LABELS, disposition_table)
        if calibration is not None:
            other.calibration = calibration
        if type_table or urgency_table or disposition_table:
            other._stack = other._stack_tables()
        return other

    def _stack_tables(self) -> TableStack:
        """The learned tables, looked up together: topics, types, urgency, dispositions."""
        return TableStack([self.topics, self.learned, self.urgency, self.dispositions])

    def _check_topics(self) -> None:
        for spec in self.types:
            if spec.topic is not None and spec.topic not in self.topics.labels:
                raise ValueError(
                    f"type {spec.name}: topic {spec.topic!r} is not in the keyword table "
                    f"(topics: {', '.join(self.topics.labels)})"
                )

    # -- entry points -------------------------------------------------------------------

    def classify(
        self, text: str, *, grid: str | None = None, types: Collection[str] | None = None
    ) -> Classification:
        """Classify a raw message; `types` restricts the candidates by name."""
        normalized = self.tokenizer.normalize(text[: self.max_chars])
        return self._decide(normalized, self.tokenizer.lcut(normalized), grid, types)

    def topic(self, tokens: Sequence[str], topics: Collection[str] | None = None) -> str:
        """The learned topic of a segmented message (the 泰迪杯 label set)."""
        normalize = self.tokenizer.normalize
        scores = self._stack.evidence(Counter(map(normalize, tokens)))[0].scores
        allowed = [
            position
            for position, label in enumerate(self.topics.labels)
            if topics is None or label in topics
        ]
        best = max(allowed, key=lambda position: (scores[position], -position))
        return self.topics.labels[best]

    # -- the decision -------------------------------------------------------------------

    def _topic_probabilities(self, evidence: Evidence) -> list[float]:
        if not evidence.norm:
            return [1.0 / len(self.topics.labels)] * len(self.topics.labels)
        return softmax(evidence.logits())

    def _keyword_scores(self, matches: Sequence[Match]) -> list[float]:
        """Per type: the strongest keyword, plus `saturation` x each further one."""
        by_type: list[list[float]] = [[] for _ in self.names]
        for match in matches:
            by_type[match.keyword.owner].append(match.weight)
        saturation = self.calibration.saturation
        return [
            (max(weights) + saturation * (sum(weights) - max(weights))) if weights else 0.0
            for weights in by_type
        ]

    def logits(
        self, matches: Sequence[Match], topic_evidence: Evidence, learned_evidence: Evidence
    ) -> list[float | None]:
        """Each type's logit (None: not a candidate) from the evidence of a message."""
        c = self.calibration
        # The prior of each topic, and last that of a type without a topic: the 泰迪杯 topics
        # know nothing of theft or disputes, so such a type counts as likely as the best topic.
        priors = [
            c.topic_weight * math.log(max(p, c.topic_floor))
            for p in self._topic_probabilities(topic_evidence)
        ]
        priors.append(max(priors))
        learned = learned_evidence.logits()
        keyword = self._keyword_scores(matches)
        logits: list[float | None] = []
        for position, (fallback, topic) in enumerate(self._type_topics):
            if not fallback and keyword[position] == 0 and learned[position] < c.learned_min:
                logits.append(None)
                continue
            own = keyword[position] + c.learned_weight * learned[position]
            logits.append(own + (c.fallback_prior if fallback else 0.0) + priors[topic])
        return logits

    def _decide(
        self,
        text: str,
        tokens: Sequence[str],
        grid: str | None,
        allowed: Collection[str] | None,
    ) -> Classification:
        # What the learned tables weigh: the tokens and the character pairs of the opening.
        features = Counter(tokens)
        features.update(char_bigrams(text))
        topic_evidence, learned_evidence, urgency_evidence, disposition_evidence = (
            self._stack.evidence(features)
        )
        matches = strongest(self.matcher.find(text))
        logits = self.logits(matches, topic_evidence, learned_evidence)
        candidates = [
            position
            for position, logit in enumerate(logits)
            if logit is not None and (allowed is None or self.names[position] in allowed)
        ]
        if not candidates:  # no evidence and no catch-all type: all are equally unlikely
            candidates = [
                position
                for position, name in enumerate(self.names)
                if allowed is None or name in allowed
            ]
            if not candidates:
                raise ValueError(f"none of the types {sorted(allowed or ())} is configured")
            scaled = [0.0] * len(candidates)
        else:
            temperature = self.calibration.temperature
            scaled = [(logits[position] or 0.0) / temperature for position in candidates]
        probabilities = softmax(scaled)
        ranked = sorted(
            zip(probabilities, candidates, strict=True), key=lambda pair: (-pair[0], pair[1])
        )
        confidence, winner = self._route(ranked)
        if not matches and not learned_evidence.norm and not topic_evidence.norm:
            confidence = 0.0
        spec = self.types[winner]
        danger = rules.detect_danger(text)
        consultation = danger.urgency is not Urgency.LIFE and rules.is_consultation(text)
        life = judgement.probability(urgency_evidence, Urgency.LIFE)
        danger = judgement.judge_life(self.calibration, text, danger, spec, life, consultation)
        floor = Urgency.URGENT if spec.urgency is Urgency.LIFE else spec.urgency
        urgency = max(danger.urgency, floor, key=lambda level: level.rank)
        disposition = judgement.disposition(
            self.calibration, spec, text, urgency, consultation, disposition_evidence
        )
        consultation = disposition is Disposition.CONSULTATION
        faq = self._faq(text, winner) if consultation else None
        # A township's type with no township known waits for the dispatcher too.
        unplaced = "{township}" in spec.department and self.township(grid=grid, text=text) is None
        needs_triage = urgency is not Urgency.LIFE and (
            confidence < self.min_confidence or unplaced
        )
        by_weight = sorted(matches, key=lambda m: (-m.weight, m.start))
        return Classification(
            type=spec.name,
            category=spec.category,
            topic=self.topics.labels[
                max(range(len(self.topics.labels)), key=topic_evidence.scores.__getitem__)
            ],
            disposition=disposition,
            department=self.department(spec, grid=grid, text=text),
            urgency=urgency,
            confidence=round(confidence, 4),
            keywords=judgement.explaining_words(
                [m.keyword.word for m in by_weight if m.keyword.owner == winner],
                [token for _, token in learned_evidence.contributions(winner)],
                self._topic_words(winner, topic_evidence),
                self.generic,
            ),
            candidates=tuple(
                (self.names[position], round(probability, 4))
                for probability, position in ranked[:CANDIDATES]
            )
            if needs_triage
            else (),
            needs_triage=needs_triage,
            faq_answer=faq.answer if faq else None,
            hazard=danger.hazard if urgency is Urgency.LIFE else None,
            consultation=consultation,
        )

    def _route(self, ranked: Sequence[tuple[float, int]]) -> tuple[float, int]:
        """The most likely type of the most likely department (the sum of its types'
        probabilities): routing is by department, and a message split between two of its
        types is still its own. `ranked` is (probability, type position), best first."""
        departments: dict[str, float] = {}
        for probability, position in ranked:
            department = self.types[position].department
            departments[department] = departments.get(department, 0.0) + probability
        department = max(departments, key=departments.__getitem__)
        return next(pair for pair in ranked if self.types[pair[1]].department == department)

    def _faq(self, text: str, winner: int) -> FaqEntry | None:
        """The winning type's FAQ entry that matches, else any type's."""
        own = [entry for position, entry in self.faq if position == winner]
        return rules.match_faq(text, own) or rules.match_faq(text, [e for _, e in self.faq])

    def township(self, *, grid: str | None, text: str) -> str | None:
        """The township of the grid code (东湖3网格), else of the place named in the text."""
        for source in (grid or "", text):
            for stem, name in self.townships:
                if stem in source:
                    return name
        return None

    def department(self, spec: AppealType, *, grid: str | None, text: str = "") -> str:
        if "{township}" not in spec.department:
            return spec.department
        township = self.township(grid=grid, text=text) or self.township_fallback
        return spec.department.replace("{township}", township)

    def _topic_words(self, winner: int, evidence: Evidence) -> list[str]:
        """The words of the winning type's topic that weighed for it, strongest first."""
        topic = self.types[winner].topic
        if topic is None:
            return []
        position = self.topics.labels.index(topic)
        return [token for _, token in evidence.contributions(position)]


def with_table(classifier: Classifier, path: Path) -> Classifier:
    """The classifier with the learned table at `path` (as `nlp train --out` writes
    it) in place of its own of that kind, told by its labels: types, urgency, dispositions."""
    labels = set(read_table(path))
    if labels and labels <= set(classifier.names):
        return classifier.variant(type_table=path)
    if labels and labels <= set(URGENCY_LABELS):
        return classifier.variant(urgency_table=path)
    if labels and labels <= set(DISPOSITION_LABELS):
        return classifier.variant(disposition_table=path)
    raise ValueError(
        f"{path}: not a learned table of the configured appeal types, of urgency or of "
        f"dispositions (its labels: {', '.join(sorted(labels)) or 'none'})"
    )
