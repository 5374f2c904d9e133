"""A learned keyword table as a linear model: a message's evidence, logits and explanation.

Scoring is linear: a label's score is the sum over the message's distinct tokens of
weight x tf, tf = 1 + ln count, with weights from a table written by `nlp.train` (a softmax
regression). The logits are score / (WEIGHT_SCALE x ||tf||), where ||tf|| is the Euclidean
norm of the tf values of the message's tokens that have a weight: the same length
normalisation as in training, so long messages are not over-confident.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nlp.keywords import WEIGHT_SCALE

Row = tuple[tuple[int, float], ...]  # a token's non-zero weights: (label position, weight)


@dataclass(frozen=True, slots=True)
class Evidence:
    """A message's tokens that carry a weight, each with its row and tf; the score of every
    label and ||tf||."""

    tokens: list[str]
    rows: list[Row]
    tfs: list[float]
    scores: list[float]
    norm: float

    def logits(self) -> list[float]:
        divisor = WEIGHT_SCALE * (self.norm or 1.0)
        return [score / divisor for score in self.scores]

    def contributions(self, position: int) -> list[tuple[float, str]]:
        """Each token's positive contribution to one label's score, strongest first."""
        found = []
        for row, tf, token in zip(self.rows, self.tfs, self.tokens, strict=True):
            for label, weight in row:
                if label == position and weight > 0:
                    found.append((weight * tf, token))
        return sorted(found, reverse=True)


class LinearTable:
    """token -> its non-zero weights by label position (labels in `labels` order).

    Rows are sparse: a token of the learned type table weighs for about 5 of 57 types, so a
    message adds up a few numbers per token instead of a whole row."""

    def __init__(self, labels: Sequence[str], weights: Mapping[str, Mapping[str, float]]):
        self.labels = tuple(labels)
        rows: dict[str, list[tuple[int, float]]] = {}
        for position, label in enumerate(self.labels):
            for token, weight in weights.get(label, {}).items():
                if weight:
                    rows.setdefault(token, []).append((position, weight))
        self._index: dict[str, Row] = {token: tuple(row) for token, row in rows.items()}

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def evidence(self, counts: Mapping[str, int]) -> Evidence:
        """The scores of a message given its token counts, with tf = 1 + ln(count).

        Stop words and punctuation need no filtering: they have no weight. Most tokens
        occur once (tf 1): their weights are added without a multiplication.
        """
        get = self._index.get
        scores = [0.0] * len(self.labels)
        tokens: list[str] = []
        rows: list[Row] = []
        tfs: list[float] = []
        for token, count in counts.items():
            row = get(token)
            if row is None:
                continue
            tokens.append(token)
            rows.append(row)
            if count == 1:
                tfs.append(1.0)
                for position, weight in row:
                    scores[position] += weight
            else:
                tf = 1.0 + math.log(count)
                tfs.append(tf)
                for position, weight in row:
                    scores[position] += weight * tf
        return Evidence(tokens, rows, tfs, scores, math.hypot(*tfs))
