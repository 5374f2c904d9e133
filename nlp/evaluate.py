"""Evaluate the classifier: the learned topics on a labeled file (accuracy, macro-F1, per-class
P/R, confusion), and what ships — department, disposition, urgency — on our labelled sets."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from nlp.classifier import Classifier
from nlp.dataset import Example
from nlp.labelled import Labelled
from nlp.types import AppealType, Classification


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

    def format(self) -> str:
        """A printable report."""
        total = sum(scores.support for scores in self.per_class.values())
        lines = [
            f"examples {total}  accuracy {self.accuracy:.4f}  macro-F1 {self.macro_f1:.4f}",
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


def score_predictions(gold: Sequence[str], predicted: Sequence[str]) -> EvalReport:
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
    )


def evaluate(
    classifier: Classifier,
    examples: Sequence[Example],
    *,
    topics: Collection[str] | None = None,
    resegment: bool = False,
) -> EvalReport:
    """The learned topic of every example, scored against its label.

    Pre-segmented examples are scored on their tokens unless `resegment` (then their tokens
    are joined and segmented again, as raw text). `topics` restricts the candidates.
    """
    tokenizer = classifier.tokenizer
    predicted = []
    for example in examples:
        if example.tokens is not None and not resegment:
            tokens: Sequence[str] = example.tokens
        else:
            tokens = tokenizer.lcut(tokenizer.normalize(example.joined_text))
        predicted.append(classifier.topic(tokens, topics))
    return score_predictions([example.label for example in examples], predicted)


@dataclass(frozen=True)
class LevelScores:
    precision: float
    recall: float
    support: int


def _level_scores(gold: Sequence[str], predicted: Sequence[str], level: str) -> LevelScores:
    pairs = list(zip(gold, predicted, strict=True))
    tp = sum(g == level and p == level for g, p in pairs)
    return LevelScores(
        _ratio(tp, sum(p == level for _, p in pairs)),
        _ratio(tp, sum(g == level for g, _ in pairs)),
        sum(g == level for g, _ in pairs),
    )


def f1(scores: LevelScores) -> float:
    total = scores.precision + scores.recall
    return 2 * scores.precision * scores.recall / total if total else 0.0


DISPOSITIONS = ("consultation", "immediate", "referral")
URGENCIES = ("life", "urgent", "normal")


@dataclass(frozen=True)
class RoutingReport:
    """What ships, measured: department, disposition, urgency and intent of labelled messages."""

    examples: int
    type_accuracy: float
    department_accuracy: float
    disposition_accuracy: float
    disposition_confusion: dict[str, dict[str, int]]
    disposition_levels: dict[str, LevelScores]
    urgency_levels: dict[str, LevelScores]
    triaged: int
    departments: dict[str, LevelScores]  # per gold department: precision and recall
    topic_macro_f1: float | None = None  # the 泰迪杯 held-out set, raw text

    @property
    def consultation_f1(self) -> float:
        return f1(self.disposition_levels["consultation"])

    def format(self) -> str:
        lines = [
            f"labelled messages {self.examples}   (人工研判 {self.triaged})",
            "",
            f"{'measure':<34}{'value':>8}",
            f"{'type accuracy':<34}{self.type_accuracy:>8.3f}",
            f"{'department accuracy':<34}{self.department_accuracy:>8.3f}",
            f"{'disposition accuracy':<34}{self.disposition_accuracy:>8.3f}",
            f"{'即办 (immediate) recall':<34}{self.disposition_levels['immediate'].recall:>8.3f}",
            f"{'consultation F1':<34}{self.consultation_f1:>8.3f}",
        ]
        for level in URGENCIES[:2]:
            scores = self.urgency_levels[level]
            lines.append(f"{f'urgency {level} recall':<34}{scores.recall:>8.3f}")
            lines.append(f"{f'urgency {level} precision':<34}{scores.precision:>8.3f}")
        if self.topic_macro_f1 is not None:
            lines.append(f"{'泰迪杯 held-out macro-F1 (raw text)':<34}{self.topic_macro_f1:>8.3f}")
        lines += ["", "disposition confusion (rows gold, columns predicted):"]
        lines.append(f"{'':<14}" + "".join(f"{level:>14}" for level in DISPOSITIONS))
        for gold in DISPOSITIONS:
            row = self.disposition_confusion[gold]
            lines.append(f"{gold:<14}" + "".join(f"{row[p]:>14}" for p in DISPOSITIONS))
        lines += ["", "urgency      precision    recall   support"]
        for level in URGENCIES:
            s = self.urgency_levels[level]
            lines.append(f"{level:<12}{s.precision:>10.3f}{s.recall:>10.3f}{s.support:>10}")
        lines += ["", "department          precision    recall   support"]
        for name, s in sorted(self.departments.items(), key=lambda item: -item[1].support):
            lines.append(f"{name:<18}{s.precision:>10.3f}{s.recall:>10.3f}{s.support:>10}")
        return "\n".join(lines)


def evaluate_routing(
    classifier: Classifier, examples: Sequence[Labelled], topic_macro_f1: float | None = None
) -> RoutingReport:
    """Classify each labelled message as a resident sent it and compare what would ship."""
    results = [classifier.classify(example.text) for example in examples]
    return routing_report(classifier.types, examples, results, topic_macro_f1)


def routing_report(
    appeal_types: Sequence[AppealType],
    examples: Sequence[Labelled],
    results: Sequence[Classification],
    topic_macro_f1: float | None = None,
) -> RoutingReport:
    """What would ship (`results`, one per example) against the labels."""
    department_of = {spec.name: spec.department for spec in appeal_types}
    unknown = sorted({example.type for example in examples} - set(department_of))
    if unknown:
        raise ValueError(f"labelled types not in config: {', '.join(unknown)}")
    gold_types = [example.type for example in examples]
    types = [result.type for result in results]
    gold_departments = [department_of[name] for name in gold_types]
    departments = [department_of[name] for name in types]
    gold_dispositions = [example.disposition for example in examples]
    dispositions = [result.disposition.value for result in results]
    confusion = {gold: dict.fromkeys(DISPOSITIONS, 0) for gold in DISPOSITIONS}
    for gold, predicted in zip(gold_dispositions, dispositions, strict=True):
        confusion[gold][predicted] += 1
    gold_urgencies = [example.urgency for example in examples]
    urgencies = [result.urgency.value for result in results]

    def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
        return _ratio(sum(g == p for g, p in zip(gold, predicted, strict=True)), len(gold))

    return RoutingReport(
        examples=len(examples),
        type_accuracy=accuracy(gold_types, types),
        department_accuracy=accuracy(gold_departments, departments),
        disposition_accuracy=accuracy(gold_dispositions, dispositions),
        disposition_confusion=confusion,
        disposition_levels={
            level: _level_scores(gold_dispositions, dispositions, level) for level in DISPOSITIONS
        },
        urgency_levels={
            level: _level_scores(gold_urgencies, urgencies, level) for level in URGENCIES
        },
        triaged=sum(result.needs_triage for result in results),
        departments={
            name: _level_scores(gold_departments, departments, name)
            for name in sorted(set(department_of.values()))
        },
        topic_macro_f1=topic_macro_f1,
    )
