"""Derive the keyword table from labeled messages.

Method: a multinomial logistic regression (softmax over the categories, L2 penalty, no
intercept), written as a table of non-negative keyword weights.

Features. A message's tokens (keyword candidates seen in at least `min_df` training messages:
the vocabulary) get tf = 1 + ln(count); the feature of token t is tf_t x idf_t / ||tf||, where
idf_t = ln((1 + n) / (1 + df_t)) + 1 (n messages, df_t of them contain t) and ||tf|| is the
Euclidean norm of the message's tf values. Rare, specific tokens thus count more than common
ones, and long messages do not get bigger scores than short ones.

Loss. Class-balanced log-loss (an example of category c weighs n / (K x n_c)), because
macro-F1 counts small categories as much as large ones, plus L2 / (2 x C x n) x ||beta||^2.
Optimised by averaged stochastic gradient descent (ASGD), examples shuffled with a fixed seed
(deterministic output); the coefficients are the average of the iterates of the last
`average_epochs` epochs.

Table. Softmax probabilities do not change when the same number is added to one token's
coefficients in every category, so each token's coefficients are shifted until the smallest
is 0: every weight then reads "evidence for this category" and the decision is that of the
unconstrained regression. idf is folded into the weight:
    weight(t, k) = WEIGHT_SCALE x idf_t x (beta_tk - min_j beta_tj),
so that the classifier scores category k as sum_t weight(t, k) x tf_t over the message's
table tokens and turns scores into probabilities with softmax(score / (WEIGHT_SCALE x ||tf||)).
The norm does not change the ranking (there is no intercept), only the confidence.

Pruning. Rows below `min_weight` are dropped. So that ||tf|| at scoring time covers the same
tokens as in training, the regression is fitted twice: once on the min_df vocabulary, then on
the tokens that got a weight of at least `min_weight` there; every token of the second fit
keeps at least its strongest row.

By default the tokens of each message are joined and segmented again with our tokenizer, so
that the table's vocabulary is the one `Classifier.classify` sees on raw text (user
dictionary terms such as 噪音扰民 included).

`python -m nlp.train --cv 5 TRAIN_CSV` prints the macro-F1 of a stratified k-fold
cross-validation on the training file (the table decision, as the classifier scores it).
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nlp.dataset import Example, read_examples
from nlp.evaluate import score_predictions
from nlp.keywords import (
    WEIGHT_SCALE,
    KeywordTable,
    euclidean_norm,
    is_keyword_candidate,
    term_weights,
    write_table,
)
from nlp.tokenizer import (
    BIGRAM_MARK,
    TextTokenizer,
    char_bigrams,
    default_tokenizer,
    generic_words,
)

logger = logging.getLogger(__name__)

# A message's features: parallel lists of vocabulary indices and values.
Features = tuple[list[int], list[float]]


@dataclass(frozen=True)
class TrainParams:
    """Hyper-parameters, chosen by 5-fold cross-validation on the training set."""

    epochs: int = 10
    average_epochs: int = 9
    learning_rate: float = 0.05
    c: float = 10.0  # inverse L2 strength, as in liblinear/scikit-learn: lower is stronger
    balanced: bool = True
    min_df: int = 2
    min_weight: float = 0.05
    seed: int = 0
    resegment: bool = True
    min_chars: int = 1  # shorter tokens are no features (types: 2, no single characters)
    bigrams: bool = False  # character pairs of the opening are features too (types)
    skip_generic: bool = False  # generic words (nlp/data/generic.txt) are no features (types)


# The type table learns from few examples per label: no single characters and no generic words
# (they never decide), seen twice at least; character pairs of the opening back words off
# (nlp.tokenizer.char_bigrams); weights below 0.15 are dropped (as accurate in cross-validation
# as all of them, with a third of the rows). The disposition table learns the same way.
TYPE_PARAMS = TrainParams(min_chars=2, bigrams=True, min_weight=0.15, skip_generic=True)
# The urgency table explains nothing to a dispatcher, so single characters count (火, 烟, 血,
# 电 tell of danger in any wording), and its classes keep their frequencies (no balancing):
# its P(life) is compared with the calibration's thresholds, and balancing inflated it for
# every message. Cross-validated on the training part, life recall 0.949 -> 0.962 at
# precision 0.835 -> 0.850 (with the calibration chosen for it).
URGENCY_PARAMS = replace(TYPE_PARAMS, min_chars=1, balanced=False)
# Per label field of the labelled sets: how its learned table is trained.
LABEL_PARAMS = {"type": TYPE_PARAMS, "urgency": URGENCY_PARAMS, "disposition": TYPE_PARAMS}


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


@dataclass(frozen=True)
class Vocabulary:
    """Tokens kept as features, their idf, and their index."""

    tokens: list[str]
    idf: list[float]
    index: dict[str, int]

    @classmethod
    def build(
        cls,
        docs: Sequence[list[str]],
        min_df: int,
        min_chars: int = 1,
        skip: frozenset[str] = frozenset(),
    ) -> Vocabulary:
        """Tokens of at least `min_chars` in `min_df` documents, none of `skip` (nor the
        character pair of one)."""
        df = Counter(
            token
            for doc in docs
            for token in set(doc)
            if len(token) >= min_chars
            and is_keyword_candidate(token)
            and token.removeprefix(BIGRAM_MARK) not in skip
        )
        tokens = sorted(token for token, count in df.items() if count >= min_df)
        n = len(docs)
        idf = [math.log((1 + n) / (1 + df[token])) + 1.0 for token in tokens]
        return cls(tokens, idf, {token: position for position, token in enumerate(tokens)})

    def restricted(self, keep: set[str]) -> Vocabulary:
        """The same vocabulary (and idf) without the tokens not in `keep`."""
        pairs = [(t, idf) for t, idf in zip(self.tokens, self.idf, strict=True) if t in keep]
        tokens = [token for token, _ in pairs]
        return Vocabulary(
            tokens,
            [idf for _, idf in pairs],
            {token: position for position, token in enumerate(tokens)},
        )

    def features(self, doc: list[str]) -> Features:
        """tf x idf / ||tf|| of the message's vocabulary tokens (tf = 1 + ln count)."""
        index = self.index
        tf = {index[token]: value for token, value in term_weights(doc).items() if token in index}
        norm = euclidean_norm(tf.values()) or 1.0
        positions = sorted(tf)
        return positions, [tf[position] * self.idf[position] / norm for position in positions]


def example_tokens(example: Example, tokenizer: TextTokenizer, resegment: bool) -> list[str]:
    """Content tokens of an example, segmented again from its text when asked or needed."""
    if example.tokens is None or resegment:
        return tokenizer.tokens(example.joined_text)
    return tokenizer.content_tokens(tokenizer.normalize(token) for token in example.tokens)


def class_weights(targets: Sequence[int], n_classes: int, balanced: bool) -> list[float]:
    """n / (K x n_c) per class when balanced, else 1."""
    if not balanced:
        return [1.0] * n_classes
    counts = Counter(targets)
    return [len(targets) / (n_classes * counts[k]) if counts[k] else 0.0 for k in range(n_classes)]


def fit(
    features: Sequence[Features],
    targets: Sequence[int],
    n_classes: int,
    n_features: int,
    params: TrainParams,
) -> list[list[float]]:
    """Softmax regression by averaged SGD; returns coefficients per class, then per feature.

    Step size rate / (1 + rate x l2 x t) ** 0.75 at step t (Bottou's ASGD schedule); the L2
    penalty is applied to the coefficients an example touches. The result is the average of
    all iterates after the first `epochs - average_epochs` epochs, kept as w - u / steps with
    u the sum of (step number x change), so averaging costs one multiply-add per update.
    Each step updates the columns of the example's features in every class (numpy).
    """
    weights = np.zeros((n_classes, n_features))
    offsets = np.zeros((n_classes, n_features))
    sample_weights = class_weights(targets, n_classes, params.balanced)
    l2 = 1.0 / (params.c * len(features))
    arrays = [
        (np.asarray(positions, dtype=np.intp), np.asarray(values))
        for positions, values in features
    ]
    order = list(range(len(features)))
    shuffler = random.Random(params.seed)  # noqa: S311 - reproducible shuffling, not security
    first_averaged = max(0, params.epochs - params.average_epochs)
    step = 0
    averaged_steps = 0
    for epoch in range(params.epochs):
        shuffler.shuffle(order)
        for index in order:
            step += 1
            if epoch >= first_averaged:
                averaged_steps += 1
            positions, values = arrays[index]
            if not len(positions):
                continue
            touched = weights[:, positions]
            scores = touched @ values
            errors = np.exp(scores - scores.max())
            errors /= errors.sum()
            errors[targets[index]] -= 1.0
            rate = params.learning_rate / (1.0 + params.learning_rate * l2 * step) ** 0.75
            # Changes made now enter the average of this and every later averaged iterate.
            delta = np.outer(errors * (-rate * sample_weights[targets[index]]), values)
            delta -= (rate * l2) * touched
            weights[:, positions] = touched + delta
            offsets[:, positions] += float(max(averaged_steps - 1, 0)) * delta
    if averaged_steps:
        weights -= offsets / averaged_steps
    coefficients: list[list[float]] = weights.tolist()
    return coefficients


def table_weights(coefficients: list[list[float]], vocabulary: Vocabulary) -> list[list[float]]:
    """Per feature, per class: WEIGHT_SCALE x idf x (beta - min over classes of beta)."""
    rows = []
    for position, idf in enumerate(vocabulary.idf):
        column = [row[position] for row in coefficients]
        low = min(column)
        rows.append([WEIGHT_SCALE * idf * (value - low) for value in column])
    return rows


def to_table(
    weights: list[list[float]],
    vocabulary: Vocabulary,
    labels: Sequence[str],
    min_weight: float,
) -> KeywordTable:
    """Rows of at least `min_weight`, and the strongest row of every token."""
    table: KeywordTable = {label: {} for label in labels}
    for token, row in zip(vocabulary.tokens, weights, strict=True):
        best = max(range(len(labels)), key=lambda k: (row[k], -k))
        for k, label in enumerate(labels):
            scaled = round(row[k], 3)
            if scaled >= min_weight or (k == best and scaled > 0):
                table[label][token] = scaled
    return table


def predict_with_table(table: KeywordTable, labels: Sequence[str], doc: list[str]) -> int:
    """The category of highest sum(weight x tf), as the classifier decides (ties: first)."""
    tf = term_weights(doc)
    scores = [
        sum(weights[token] * value for token, value in tf.items() if token in weights)
        for weights in (table[label] for label in labels)
    ]
    return max(range(len(labels)), key=lambda k: (scores[k], -k))


def _learn(
    docs: Sequence[list[str]], targets: Sequence[int], labels: Sequence[str], params: TrainParams
) -> tuple[KeywordTable, Vocabulary]:
    """Fit on the min_df vocabulary, keep the tokens with a weight >= min_weight, fit again.

    The second fit makes ||tf|| in training cover exactly the tokens of the table.
    """
    skip = generic_words() if params.skip_generic else frozenset()
    vocabulary = Vocabulary.build(docs, params.min_df, params.min_chars, skip)
    for final in (False, True):
        features = [vocabulary.features(doc) for doc in docs]
        coefficients = fit(features, targets, len(labels), len(vocabulary.tokens), params)
        weights = table_weights(coefficients, vocabulary)
        if final or params.min_weight <= 0:
            break
        vocabulary = vocabulary.restricted(
            {
                token
                for token, row in zip(vocabulary.tokens, weights, strict=True)
                if round(max(row), 3) >= params.min_weight
            }
        )
    return to_table(weights, vocabulary, labels, params.min_weight), vocabulary


def _documents(
    examples: Sequence[Example], tokenizer: TextTokenizer, params: TrainParams
) -> tuple[list[str], list[list[str]], list[int]]:
    labels = sorted({example.label for example in examples})
    docs = [example_tokens(example, tokenizer, params.resegment) for example in examples]
    if params.bigrams:
        for doc, example in zip(docs, examples, strict=True):
            doc += char_bigrams(tokenizer.normalize(example.joined_text))
    targets = [labels.index(example.label) for example in examples]
    return labels, docs, targets


def train(
    train_csv: Path,
    out_tsv: Path,
    *,
    params: TrainParams | None = None,
    tokenizer: TextTokenizer | None = None,
) -> TrainSummary:
    """Learn topic keyword weights from a labeled file and write them to `out_tsv`."""
    examples = read_examples(train_csv)
    if not examples:
        raise ValueError(f"{train_csv}: no examples")
    regenerate = (
        f"python -m nlp.train {train_csv} {out_tsv}\n"
        f"(or: appealbot nlp train --data {train_csv} --out {out_tsv})"
    )
    return train_examples(
        examples,
        out_tsv,
        source=f"{train_csv.name} ({len(examples)} messages)",
        regenerate=regenerate,
        params=params,
        tokenizer=tokenizer,
    )


def train_examples(
    examples: Sequence[Example],
    out_tsv: Path,
    *,
    source: str,
    regenerate: str,
    params: TrainParams | None = None,
    tokenizer: TextTokenizer | None = None,
) -> TrainSummary:
    """Learn keyword weights per label from examples and write them to `out_tsv`."""
    params = params or TrainParams()
    tokenizer = tokenizer or default_tokenizer()
    started = time.perf_counter()
    labels, docs, targets = _documents(examples, tokenizer, params)
    table, vocabulary = _learn(docs, targets, labels, params)
    correct = sum(
        predict_with_table(table, labels, doc) == y for doc, y in zip(docs, targets, strict=True)
    )
    comment = (
        f"Keyword weights per label, learned from {source} by nlp/train.py\n"
        "(its docstring has the details): softmax regression (no intercept) over the\n"
        "message's table tokens, feature tf x idf / ||tf|| with tf = 1 + ln(count),\n"
        "idf = ln((1+n)/(1+df)) + 1;\n"
        f"class-balanced {params.balanced}, C {params.c:g}, ASGD {params.epochs} epochs, "
        f"learning rate {params.learning_rate:g}, averaged over the last "
        f"{params.average_epochs}, min_df {params.min_df}, min_chars {params.min_chars}, "
        f"seed {params.seed}, resegment {params.resegment}.\n"
        f"weight = {WEIGHT_SCALE:g} x idf x (coefficient - the token's smallest coefficient), "
        "so weights are >= 0;\n"
        f"rows below {params.min_weight:g} dropped (refitted without the tokens left with\n"
        "no row; every other token keeps its strongest row).\n"
        "A message scores sum(weight x (1 + ln count)) per label; its logit is\n"
        f"score / ({WEIGHT_SCALE:g} x ||1 + ln count||). Edit weights freely.\n"
        f"Regenerate: {regenerate}"
    )
    rows = write_table(out_tsv, table, comment)
    summary = TrainSummary(
        examples=len(examples),
        label_counts=dict(Counter(example.label for example in examples)),
        vocabulary=len(vocabulary.tokens),
        rows=rows,
        train_accuracy=correct / len(examples),
        seconds=time.perf_counter() - started,
    )
    logger.info("trained keyword table %s: %s", out_tsv, summary)
    return summary


def stratified_folds(targets: Sequence[int], folds: int, seed: int) -> list[int]:
    """Fold number of every example: each class dealt round-robin after a seeded shuffle."""
    fold_of = [0] * len(targets)
    shuffler = random.Random(seed)  # noqa: S311 - reproducible split, not security
    for label in sorted(set(targets)):
        members = [index for index, target in enumerate(targets) if target == label]
        shuffler.shuffle(members)
        for position, index in enumerate(members):
            fold_of[index] = position % folds
    return fold_of


def cross_validate(
    train_csv: Path,
    folds: int = 5,
    *,
    params: TrainParams | None = None,
    tokenizer: TextTokenizer | None = None,
) -> list[float]:
    """Macro-F1 of each fold of a stratified k-fold cross-validation (table decisions)."""
    params = params or TrainParams()
    tokenizer = tokenizer or default_tokenizer()
    labels, docs, targets = _documents(read_examples(train_csv), tokenizer, params)
    fold_of = stratified_folds(targets, folds, params.seed)
    scores = []
    for fold in range(folds):
        train_ids = [index for index in range(len(docs)) if fold_of[index] != fold]
        test_ids = [index for index in range(len(docs)) if fold_of[index] == fold]
        table, _ = _learn(
            [docs[index] for index in train_ids],
            [targets[index] for index in train_ids],
            labels,
            params,
        )
        predicted = [labels[predict_with_table(table, labels, docs[index])] for index in test_ids]
        gold = [labels[targets[index]] for index in test_ids]
        scores.append(score_predictions(gold, predicted).macro_f1)
        logger.info("fold %d: macro-F1 %.4f", fold, scores[-1])
    return scores


USAGE = "usage: python -m nlp.train TRAIN_CSV OUT_TSV | python -m nlp.train --cv K TRAIN_CSV"


def main(argv: Sequence[str]) -> int:
    """Train with the default parameters, or cross-validate them with `--cv K`."""
    if len(argv) == 3 and argv[0] == "--cv" and argv[1].isdigit() and int(argv[1]) >= 2:
        scores = cross_validate(Path(argv[2]), int(argv[1]))
        mean = sum(scores) / len(scores)
        spread = math.sqrt(sum((score - mean) ** 2 for score in scores) / len(scores))
        folds = " ".join(f"{score:.4f}" for score in scores)
        print(f"macro-F1 per fold {folds}; mean {mean:.4f} +- {spread:.4f}")
        return 0
    if len(argv) != 2 or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    print(train(Path(argv[0]), Path(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
