"""Learned keyword tables as linear models: a message's evidence, logits and explanation.

Scoring is linear: a label's score is the sum over the message's distinct tokens of
weight x tf, tf = 1 + ln count, with weights from a table written by `nlp.train` (a softmax
regression). The logits are score / (WEIGHT_SCALE x ||tf||), where ||tf|| is the Euclidean
norm of the tf values of the message's tokens that have a weight in the table: the same
length normalisation as in training, so long messages are not over-confident.

The classifier's tables (topics, types, urgency) are stacked side by side in one matrix, a
row per token and a column per label of each table: a message's features are looked up once,
and all its scores are one product of its tf values with its rows (numpy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nlp.keywords import WEIGHT_SCALE

Matrix = npt.NDArray[np.float64]


class LinearTable:
    """One learned table: per label (in `labels` order), token -> weight."""

    def __init__(self, labels: Sequence[str], weights: Mapping[str, Mapping[str, float]]):
        self.labels = tuple(labels)
        self.weights = {
            label: {token: weight for token, weight in weights.get(label, {}).items() if weight}
            for label in self.labels
        }


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one table makes of a message: the message's stacked tokens with their rows of
    this table (zeros where it has no weight) and tf, each label's score, and ||tf|| over the
    tokens it weighs (0: the table knows none of the message's tokens)."""

    tokens: list[str]
    rows: Matrix  # len(tokens) x labels
    tfs: Matrix  # len(tokens)
    scores: list[float]
    norm: float

    def logits(self) -> list[float]:
        divisor = WEIGHT_SCALE * (self.norm or 1.0)
        return [score / divisor for score in self.scores]

    def contributions(self, position: int) -> list[tuple[float, str]]:
        """Each token's positive contribution to one label's score, strongest first."""
        values = self.rows[:, position] * self.tfs
        found = np.flatnonzero(values > 0)
        ranked = found[np.argsort(-values[found], kind="stable")]
        return [(float(values[index]), self.tokens[index]) for index in ranked]


class TableStack:
    """Tables side by side: one lookup per message feature, one product for all scores."""

    def __init__(self, tables: Sequence[LinearTable]) -> None:
        self.tables = tuple(tables)
        tokens = sorted(
            {
                token
                for table in self.tables
                for weights in table.weights.values()
                for token in weights
            }
        )
        self._index = {token: row for row, token in enumerate(tokens)}
        self._matrix: Matrix = np.zeros((len(tokens), sum(len(t.labels) for t in self.tables)))
        # Which tables weigh each token (1.0) or not (0.0): ||tf|| of each table at once.
        self._weighed: Matrix = np.zeros((len(tokens), len(self.tables)))
        self._columns: list[slice] = []
        start = 0
        for number, table in enumerate(self.tables):
            for position, weights in enumerate(table.weights.values()):
                rows = [self._index[token] for token in weights]
                self._matrix[rows, start + position] = list(weights.values())
                self._weighed[rows, number] = 1.0
            self._columns.append(slice(start, start + len(table.labels)))
            start += len(table.labels)

    def evidence(self, counts: Mapping[str, int]) -> list[Evidence]:
        """Each table's evidence of a message, given its token counts (tf = 1 + ln count).

        Stop words and punctuation need no filtering: they have no weight."""
        index = self._index
        tokens = [token for token in counts if token in index]
        rows = [index[token] for token in tokens]
        tfs = 1.0 + np.log(np.array([counts[token] for token in tokens], dtype=np.float64))
        matrix = self._matrix[rows]
        scores: list[float] = (tfs @ matrix).tolist()
        norms: list[float] = np.sqrt((tfs * tfs) @ self._weighed[rows]).tolist()
        return [
            Evidence(tokens, matrix[:, columns], tfs, scores[columns], norm)
            for columns, norm in zip(self._columns, norms, strict=True)
        ]
