"""Derive the keyword table from labeled messages.

Method: a multinomial logistic regression (softmax over categories, no intercept) whose
weights are constrained to be non-negative, so that every weight reads as "this token is
evidence for this category". Features are 1 + ln(count) of the distinct tokens of a message
that pass the junk filter and occur in at least `min_df` messages. Training is AdaGrad on the
log-loss with a small L2 penalty, examples shuffled with a fixed seed (deterministic output).
Weights are multiplied by WEIGHT_SCALE and rows below `min_weight` are dropped, which keeps
the table readable without changing its decisions much.

By default the tokens of each message are joined and segmented again with our tokenizer, so
that the table's vocabulary is the one `Classifier.classify` sees on raw text (user
dictionary terms such as 噪音扰民 included).
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nlp.dataset import Example, read_examples
from nlp.keywords import (
    WEIGHT_SCALE,
    KeywordTable,
    is_keyword_candidate,
    softmax,
    term_weights,
    write_table,
)
from nlp.tokenizer import TextTokenizer, default_tokenizer

logger = logging.getLogger(__name__)

Features = dict[str, float]


@dataclass(frozen=True)
class TrainParams:
    """Hyper-parameters; the defaults were tuned on a held-out fifth of the training set."""

    epochs: int = 8
    learning_rate: float = 0.1
    l2: float = 1e-4
    min_df: int = 2
    min_weight: float = 0.3
    seed: int = 0
    resegment: bool = True


@dataclass(frozen=True)
class TrainSummary:
    examples: int
    label_counts: dict[str, int]
    vocabulary: int
    rows: int
    train_accuracy: float
    seconds: float

    def __str__(self) -> str:
        labels = ", ".join(
            f"{label} {count}" for label, count in sorted(self.label_counts.items())
        )
        return (
            f"{self.examples} examples ({labels}); vocabulary {self.vocabulary}; "
            f"{self.rows} table rows; training accuracy {self.train_accuracy:.3f}; "
            f"{self.seconds:.1f} s"
        )


def example_tokens(example: Example, tokenizer: TextTokenizer, resegment: bool) -> list[str]:
    """Content tokens of an example, segmented again from its text when asked or needed."""
    if example.tokens is None or resegment:
        return tokenizer.tokens(example.joined_text)
    return tokenizer.content_tokens(tokenizer.normalize(token) for token in example.tokens)


def featurize(docs: Sequence[list[str]], min_df: int) -> list[Features]:
    """Saturated term frequencies of keyword candidates seen in at least `min_df` docs."""
    df = Counter(token for doc in docs for token in set(doc) if is_keyword_candidate(token))
    return [
        {token: value for token, value in term_weights(doc).items() if df[token] >= min_df}
        for doc in docs
    ]


def fit(
    features: Sequence[Features], targets: Sequence[int], n_classes: int, params: TrainParams
) -> dict[str, list[float]]:
    """Non-negative softmax regression by AdaGrad; returns token -> weight per class."""
    weights: dict[str, list[float]] = {}
    grad_sq: dict[str, list[float]] = {}
    order = list(range(len(features)))
    shuffler = random.Random(params.seed)  # noqa: S311 - reproducible shuffling, not security
    for _ in range(params.epochs):
        shuffler.shuffle(order)
        for index in order:
            x = features[index]
            scores = [0.0] * n_classes
            for token, value in x.items():
                row = weights.setdefault(token, [0.0] * n_classes)
                for k in range(n_classes):
                    scores[k] += row[k] * value
            errors = softmax(scores)
            errors[targets[index]] -= 1.0
            for token, value in x.items():
                row = weights[token]
                acc = grad_sq.setdefault(token, [1e-8] * n_classes)
                for k in range(n_classes):
                    grad = errors[k] * value + params.l2 * row[k]
                    acc[k] += grad * grad
                    row[k] = max(0.0, row[k] - params.learning_rate * grad / math.sqrt(acc[k]))
    return weights


def predict(weights: dict[str, list[float]], x: Features, n_classes: int) -> int:
    scores = [0.0] * n_classes
    for token, value in x.items():
        row = weights.get(token)
        if row:
            for k in range(n_classes):
                scores[k] += row[k] * value
    return max(range(n_classes), key=lambda k: (scores[k], -k))


def to_table(
    weights: dict[str, list[float]], labels: Sequence[str], min_weight: float
) -> KeywordTable:
    table: KeywordTable = {label: {} for label in labels}
    for token, row in weights.items():
        for k, label in enumerate(labels):
            scaled = round(row[k] * WEIGHT_SCALE, 3)
            if scaled >= min_weight:
                table[label][token] = scaled
    return table


def train(
    train_csv: Path,
    out_tsv: Path,
    *,
    params: TrainParams | None = None,
    tokenizer: TextTokenizer | None = None,
) -> TrainSummary:
    """Learn keyword weights from a labeled file and write them to `out_tsv`."""
    params = params or TrainParams()
    tokenizer = tokenizer or default_tokenizer()
    started = time.perf_counter()
    examples = read_examples(train_csv)
    if not examples:
        raise ValueError(f"{train_csv}: no examples")
    labels = sorted({example.label for example in examples})
    docs = [example_tokens(example, tokenizer, params.resegment) for example in examples]
    features = featurize(docs, params.min_df)
    targets = [labels.index(example.label) for example in examples]
    weights = fit(features, targets, len(labels), params)
    correct = sum(
        predict(weights, x, len(labels)) == y for x, y in zip(features, targets, strict=True)
    )
    table = to_table(weights, labels, params.min_weight)
    comment = (
        f"Keyword weights per category, learned from {train_csv.name} "
        f"({len(examples)} messages) by nlp/train.py:\n"
        "non-negative softmax regression over 1+ln(count) of jieba tokens (no intercept),\n"
        f"AdaGrad, {params.epochs} epochs, learning rate {params.learning_rate}, "
        f"L2 {params.l2}, min_df {params.min_df}, seed {params.seed}, "
        f"resegment {params.resegment};\n"
        f"weight = logit x {WEIGHT_SCALE:g}; rows below {params.min_weight} dropped.\n"
        "A message scores sum(weight x (1 + ln count)) per category. Edit weights freely;\n"
        "config.yaml keywords override or extend rows of the same category.\n"
        f"Regenerate: python -m nlp.train {train_csv} {out_tsv}"
    )
    rows = write_table(out_tsv, table, comment)
    summary = TrainSummary(
        examples=len(examples),
        label_counts=dict(Counter(example.label for example in examples)),
        vocabulary=len(weights),
        rows=rows,
        train_accuracy=correct / len(examples),
        seconds=time.perf_counter() - started,
    )
    logger.info("trained keyword table %s: %s", out_tsv, summary)
    return summary


def main(argv: Sequence[str]) -> int:
    """`python -m nlp.train TRAIN_CSV OUT_TSV`: train with the default parameters."""
    if len(argv) != 2:
        print("usage: python -m nlp.train TRAIN_CSV OUT_TSV", file=sys.stderr)
        return 2
    print(train(Path(argv[0]), Path(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
