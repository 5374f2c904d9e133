"""Evaluate a classifier on a labeled file: accuracy, macro-F1, per-class P/R, confusion."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from nlp.classifier import Classifier
from nlp.dataset import Example


@dataclass(frozen=True)
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class EvalReport:
    labels: tuple[str, ...]
    accuracy: float
    macro_f1: float
    per_class: dict[str, ClassScores]
    confusion: dict[str, dict[str, int]]  # gold label -> predicted label -> count
    triaged: int  # predictions flagged needs_triage

    def format(self) -> str:
        """A printable report."""
        total = sum(scores.support for scores in self.per_class.values())
        lines = [
            f"examples {total}  accuracy {self.accuracy:.4f}  macro-F1 {self.macro_f1:.4f}  "
            f"needs_triage {self.triaged}",
            "",
            f"{'label':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}",
        ]
        for label in self.labels:
            s = self.per_class[label]
            lines.append(
                f"{label:<12}{s.precision:>10.4f}{s.recall:>10.4f}{s.f1:>10.4f}{s.support:>9}"
            )
        lines += ["", "confusion (rows gold, columns predicted in the order above):"]
        for label in self.labels:
            row = " ".join(f"{self.confusion[label][other]:>5}" for other in self.labels)
            lines.append(f"{label:<12}{row}")
        return "\n".join(lines)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def score_predictions(
    gold: Sequence[str], predicted: Sequence[str], triaged: int = 0
) -> EvalReport:
    """Metrics of predicted against gold labels (labels: the union of both, sorted)."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    labels = tuple(sorted(set(gold) | set(predicted)))
    confusion = {label: dict.fromkeys(labels, 0) for label in labels}
    for g, p in zip(gold, predicted, strict=True):
        confusion[g][p] += 1
    per_class = {}
    for label in labels:
        tp = confusion[label][label]
        predicted_count = sum(confusion[other][label] for other in labels)
        support = sum(confusion[label].values())
        precision = _ratio(tp, predicted_count)
        recall = _ratio(tp, support)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = ClassScores(precision, recall, f1, support)
    correct = sum(confusion[label][label] for label in labels)
    return EvalReport(
        labels=labels,
        accuracy=_ratio(correct, len(gold)),
        macro_f1=sum(s.f1 for s in per_class.values()) / len(labels) if labels else 0.0,
        per_class=per_class,
        confusion=confusion,
        triaged=triaged,
    )


def evaluate(
    classifier: Classifier,
    examples: Sequence[Example],
    *,
    categories: Collection[str] | None = None,
    resegment: bool = False,
) -> EvalReport:
    """Classify every example and score it.

    Pre-segmented examples are scored on their tokens unless `resegment` (then their tokens
    are joined and the text is classified as raw text). `categories` restricts the candidates;
    by default they are the file's labels that the classifier knows.
    """
    if categories is None:
        categories = {example.label for example in examples} & set(classifier.names)
    predicted = []
    triaged = 0
    for example in examples:
        if example.tokens is not None and not resegment:
            result = classifier.classify_tokens(example.tokens, categories=categories)
        else:
            result = classifier.classify(example.joined_text, categories=categories)
        predicted.append(result.category)
        triaged += result.needs_triage
    return score_predictions([example.label for example in examples], predicted, triaged)
