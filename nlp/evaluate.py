"""Evaluate the classifier: the learned topics on a labeled file (accuracy, macro-F1, per-class
P/R, confusion), and what ships — department, disposition, urgency — on our labelled sets."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from nlp.classifier import Classifier
from nlp.columns import columns
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
        ]
        scores = [(label, self.per_class[label]) for label in self.labels]
        lines += columns(
            [
                ["label", "precision", "recall", "f1", "support"],
                *(
                    [label, f"{s.precision:.4f}", f"{s.recall:.4f}", f"{s.f1:.4f}", str(s.support)]
                    for label, s in scores
                ),
            ],
            "<>>>>",
        )
        lines += ["", "confusion (rows gold, columns predicted in the order above):"]
        lines += columns(
            (
                [label, *(str(self.confusion[label][other]) for other in self.labels)]
                for label in self.labels
            ),
            "<" + ">" * len(self.labels),
        )
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
        measures = [
            ("type accuracy", self.type_accuracy),
            ("department accuracy", self.department_accuracy),
            ("disposition accuracy", self.disposition_accuracy),
            ("即办 (immediate) recall", self.disposition_levels["immediate"].recall),
            ("consultation F1", self.consultation_f1),
        ]
        for level in URGENCIES[:2]:
            measures.append((f"urgency {level} recall", self.urgency_levels[level].recall))
            measures.append((f"urgency {level} precision", self.urgency_levels[level].precision))
        if self.topic_macro_f1 is not None:
            measures.append(("泰迪杯 held-out macro-F1 (raw text)", self.topic_macro_f1))
        lines = [f"labelled messages {self.examples}   (人工研判 {self.triaged})", ""]
        lines += columns(
            [["measure", "value"], *([name, f"{value:.3f}"] for name, value in measures)], "<>"
        )
        lines += ["", "disposition confusion (rows gold, columns predicted):"]
        lines += columns(
            [
                ["", *DISPOSITIONS],
                *(
                    [gold, *(str(self.disposition_confusion[gold][p]) for p in DISPOSITIONS)]
                    for gold in DISPOSITIONS
                ),
            ],
            "<>>>",
        )
        departments = sorted(self.departments.items(), key=lambda item: -item[1].support)
        for head, levels in (
            ("urgency", [(level, self.urgency_levels[level]) for level in URGENCIES]),
            ("department", departments),
        ):
            lines.append("")
            lines += columns(
                [
                    [head, "precision", "recall", "support"],
                    *(
                        [name, f"{s.precision:.3f}", f"{s.recall:.3f}", str(s.support)]
                        for name, s in levels
                    ),
                ],
                "<>>>",
            )
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
