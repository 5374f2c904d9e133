"""Classify an appeal: category (keyword scores), disposition, department and urgency.

Scoring is linear: a category's score is the sum over the message's distinct tokens of
weight x tf, tf = 1 + ln count, with weights from the keyword table (`data/keywords.tsv`,
learned by `nlp.train`: a softmax regression) and from `CategorySpec.keywords` in config
(which override table rows of the same category and are the only weights of categories absent
from the table). The highest score wins. The confidence is the softmax probability of the
winner over the candidate categories, from the logits score / (WEIGHT_SCALE x ||tf||), where
||tf|| is the Euclidean norm of the tf values of the message's tokens that have a weight: the
same length normalisation as in training, so long messages are not over-confident. It is 0
when no keyword matched at all. Below `min_confidence` the result asks for triage and lists
the top three candidates. The explanation lists the matched keywords that add most to the
winner's score.

Departments may contain "{township}": it is replaced by the `township` argument, or by
`township_fallback` (default "属地乡镇（街道）", "the township in charge") when none is known,
so the text stays readable and staff route it by hand.
"""

from __future__ import annotations

import logging
import math
import operator
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby, repeat
from pathlib import Path

from nlp import rules
from nlp.keywords import KEYWORDS_PATH, WEIGHT_SCALE, read_table, softmax
from nlp.tokenizer import TextTokenizer, default_tokenizer
from nlp.types import CategorySpec, Classification, Disposition, FaqEntry, Urgency

logger = logging.getLogger(__name__)

# Only the start of a message is scored; appeals longer than this are rare (< 0.1 %).
MAX_CHARS = 5000
TOWNSHIP_FALLBACK = "属地乡镇（街道）"
EXPLAINING_KEYWORDS = 5
CANDIDATES = 3


@dataclass(frozen=True, slots=True)
class Evidence:
    """A message's tokens that carry a weight, each with its row (weight in every category,
    config order) and tf; the score of every category and ||tf||."""

    tokens: list[str]
    rows: list[tuple[float, ...]]
    tfs: list[float]
    scores: list[float]
    norm: float


class Classifier:
    """Keyword-table classifier; build once at start-up, then call `classify` per message."""

    def __init__(
        self,
        categories: Sequence[CategorySpec],
        faq: Sequence[FaqEntry] = (),
        *,
        keywords_path: Path = KEYWORDS_PATH,
        min_confidence: float = 0.25,
        tokenizer: TextTokenizer | None = None,
        township_fallback: str = TOWNSHIP_FALLBACK,
        max_chars: int = MAX_CHARS,
    ) -> None:
        if not categories:
            raise ValueError("at least one category is needed")
        self.tokenizer = tokenizer or default_tokenizer()
        self.categories = tuple(categories)
        self.names = tuple(spec.name for spec in self.categories)
        if len(set(self.names)) != len(self.names):
            raise ValueError("duplicate category names")
        self.min_confidence = min_confidence
        self.township_fallback = township_fallback
        self.max_chars = max_chars
        normalize = self.tokenizer.normalize
        self.faq = tuple(
            FaqEntry(patterns=[normalize(p) for p in entry.patterns], answer=entry.answer)
            for entry in faq
        )
        self.weights = self._merge_weights(read_table(keywords_path))
        self._index = self._build_index()

    def _merge_weights(self, table: Mapping[str, Mapping[str, float]]) -> list[dict[str, float]]:
        """Per category (config order): table weights, then config keywords on top."""
        unknown = sorted(set(table) - set(self.names))
        if unknown:
            logger.warning("keyword table categories not in config, ignored: %s", unknown)
        merged = []
        for spec in self.categories:
            weights = dict(table.get(spec.name, {}))
            for keyword, weight in spec.keywords.items():
                token = self.tokenizer.normalize(keyword.strip())
                if not self.tokenizer.is_single_token(token):
                    self.tokenizer.add_word(token)
                weights[token] = weight
                # User-dictionary terms such as 聚众赌博 hide the keyword 赌博 inside one token.
                for word in self.tokenizer.user_words:
                    if token in word and word not in weights:
                        weights[word] = weight
            merged.append(weights)
        return merged

    def _build_index(self) -> dict[str, tuple[float, ...]]:
        """Token -> its weight in every category (config order), for one lookup per token.

        Equal weights share one float object: the table has about 1,300 distinct values, so
        the weights a message adds up stay in the CPU cache while jieba's dictionary evicts
        the rest (1.5 points of throughput in benchmarks/bench_nlp.py).
        """
        index: dict[str, list[float]] = {}
        shared: dict[float, float] = {}
        zeros = [0.0] * len(self.names)
        for position, weights in enumerate(self.weights):
            for token, weight in weights.items():
                if weight:
                    weight = shared.setdefault(weight, weight)
                    try:
                        index[token][position] = weight
                    except KeyError:
                        row = index[token] = zeros.copy()
                        row[position] = weight
        return {token: tuple(row) for token, row in index.items()}

    def classify(
        self,
        text: str,
        *,
        categories: Collection[str] | None = None,
        township: str | None = None,
    ) -> Classification:
        """Classify a raw message; `categories` restricts the candidates by name."""
        normalized = self.tokenizer.normalize(text[: self.max_chars])
        return self._decide(normalized, self.tokenizer.lcut(normalized), categories, township)

    def classify_tokens(
        self,
        tokens: Sequence[str],
        *,
        categories: Collection[str] | None = None,
        township: str | None = None,
    ) -> Classification:
        """Classify a message that is already segmented (rules see the joined tokens)."""
        normalize = self.tokenizer.normalize
        normalized = normalize("".join(tokens)[: self.max_chars])
        return self._decide(
            normalized, [normalize(token) for token in tokens], categories, township
        )

    def _allowed(self, categories: Collection[str] | None) -> list[int]:
        if categories is None:
            return list(range(len(self.names)))
        allowed = [position for position, name in enumerate(self.names) if name in categories]
        if not allowed:
            raise ValueError(f"none of the categories {sorted(categories)} is configured")
        return allowed

    def evidence(self, tokens: Iterable[str]) -> Evidence:
        """The message's tokens that carry a weight, with tf = 1 + ln(count), and the scores.

        Stop words and punctuation need no filtering: they have no weight. The tokens are
        taken in groups of equal count (most occur once): the rows of a group are summed
        column-wise, then multiplied by the group's tf once.
        """
        counts = Counter(tokens)
        index = self._index
        matched = sorted(filter(index.__contains__, counts), key=counts.__getitem__)
        rows: list[tuple[float, ...]] = []
        tfs: list[float] = []
        scores = [0.0] * len(self.names)
        squares = 0.0
        for count, group in groupby(matched, counts.__getitem__):
            tf = 1.0 + math.log(count)
            group_rows = list(map(index.__getitem__, group))
            rows += group_rows
            tfs += repeat(tf, len(group_rows))
            sums = map(sum, zip(*group_rows, strict=True))
            scores = [score + tf * total for score, total in zip(scores, sums, strict=True)]
            squares += len(group_rows) * tf * tf
        return Evidence(matched, rows, tfs, scores, math.sqrt(squares))

    def explain(self, evidence: Evidence, category: str) -> tuple[str, ...]:
        """The matched tokens adding most to a category's score, strongest first (ties: by token).

        Only positive contributions count: these are the keywords that decided.
        """
        column = map(operator.itemgetter(self.names.index(category)), evidence.rows)
        contributions = list(map(operator.mul, column, evidence.tfs))
        # Only contributions as large as the fifth largest are paired with their tokens.
        strongest = sorted(contributions, reverse=True)[:EXPLAINING_KEYWORDS]
        floor = strongest[-1] if strongest else 0.0
        ranked = sorted(
            (-contribution, token)
            for contribution, token in zip(contributions, evidence.tokens, strict=True)
            if contribution >= floor and contribution > 0
        )
        return tuple(token for _, token in ranked[:EXPLAINING_KEYWORDS])

    def _decide(
        self,
        text: str,
        tokens: Sequence[str],
        categories: Collection[str] | None,
        township: str | None,
    ) -> Classification:
        allowed = self._allowed(categories)
        evidence = self.evidence(tokens)
        totals = evidence.scores
        # Highest score first; the sort is stable, so ties go to the category listed first.
        ranked = sorted(allowed, key=totals.__getitem__, reverse=True)
        divisor = WEIGHT_SCALE * (evidence.norm or 1.0)
        probabilities = softmax([totals[position] / divisor for position in ranked])
        confidence = probabilities[0] if totals[ranked[0]] > 0 else 0.0
        spec = self.categories[ranked[0]]
        urgency = rules.detect_urgency(text)
        faq = rules.match_faq(text, self.faq)
        needs_triage = confidence < self.min_confidence
        candidates: tuple[tuple[str, float], ...] = ()
        if needs_triage:
            candidates = tuple(
                (self.names[position], round(probability, 4))
                for position, probability in zip(ranked, probabilities, strict=True)
            )[:CANDIDATES]
        return Classification(
            category=spec.name,
            disposition=self._disposition(spec, text, urgency, faq),
            department=self._department(spec, township),
            urgency=urgency,
            confidence=round(confidence, 4),
            keywords=self.explain(evidence, spec.name),
            candidates=candidates,
            needs_triage=needs_triage,
            faq_answer=faq.answer if faq else None,
        )

    @staticmethod
    def _disposition(
        spec: CategorySpec, text: str, urgency: Urgency, faq: FaqEntry | None
    ) -> Disposition:
        if faq is not None:
            return Disposition.CONSULTATION
        if urgency is Urgency.NORMAL and rules.is_consultation(text):
            return Disposition.CONSULTATION
        return spec.disposition

    def _department(self, spec: CategorySpec, township: str | None) -> str:
        if "{township}" not in spec.department:
            return spec.department
        return spec.department.replace("{township}", township or self.township_fallback)
