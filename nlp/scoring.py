"""A learned keyword table as a linear model: a message's evidence, logits and explanation.

Scoring is linear: a label's score is the sum over the message's distinct tokens of
weight x tf, tf = 1 + ln count, with weights from a table written by `nlp.train` (a softmax
regression). The logits are score / (WEIGHT_SCALE x ||tf||), where ||tf|| is the Euclidean
norm of the tf values of the message's tokens that have a weight: the same length
normalisation as in training, so long messages are not over-confident.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby, repeat

from nlp.keywords import WEIGHT_SCALE


@dataclass(frozen=True, slots=True)
class Evidence:
    """A message's tokens that carry a weight, each with its row (weight per label) and tf;
    the score of every label and ||tf||."""

    tokens: list[str]
    rows: list[tuple[float, ...]]
    tfs: list[float]
    scores: list[float]
    norm: float

    def logits(self) -> list[float]:
        divisor = WEIGHT_SCALE * (self.norm or 1.0)
        return [score / divisor for score in self.scores]

    def contributions(self, position: int) -> list[tuple[float, str]]:
        """Each token's positive contribution to one label's score, strongest first."""
        column = map(operator.itemgetter(position), self.rows)
        pairs = zip(map(operator.mul, column, self.tfs), self.tokens, strict=True)
        return sorted(((value, token) for value, token in pairs if value > 0), reverse=True)


class LinearTable:
    """token -> weight per label (in `labels` order), for one lookup per token."""

    def __init__(self, labels: Sequence[str], weights: Mapping[str, Mapping[str, float]]):
        self.labels = tuple(labels)
        self._index = self._build_index(weights)

    def _build_index(
        self, weights: Mapping[str, Mapping[str, float]]
    ) -> dict[str, tuple[float, ...]]:
        """Equal weights share one float object: the table has about 1,300 distinct values,
        so the weights a message adds up stay in the CPU cache while jieba's dictionary evicts
        the rest (1.5 points of throughput in benchmarks/bench_nlp.py)."""
        index: dict[str, list[float]] = {}
        shared: dict[float, float] = {}
        zeros = [0.0] * len(self.labels)
        for position, label in enumerate(self.labels):
            for token, weight in weights.get(label, {}).items():
                if weight:
                    weight = shared.setdefault(weight, weight)
                    index.setdefault(token, zeros.copy())[position] = weight
        return {token: tuple(row) for token, row in index.items()}

    def __contains__(self, token: str) -> bool:
        return token in self._index

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
        scores = [0.0] * len(self.labels)
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
