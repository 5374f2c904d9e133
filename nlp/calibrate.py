"""Choose the classifier's calibration by cross-validation on the labelled sets' training part.

`appealbot nlp calibrate [--errors] [--only NAMES]`. The training part is cut into FOLDS
stratified folds; for each fold the type, urgency and disposition tables are learned from the
other folds (as `nlp train --types` and `--labels` do) and the fold's messages are classified
with them, so every message is scored by tables that never saw it. A coordinate search then
tries each setting's candidate values in turn (GRID, or the settings named by --only),
keeping a change when it raises the cross-validated objective (department accuracy, the F3
of "life" urgency and the F1 of consultation and of 即办, averaged; ties: type accuracy),
until a whole pass changes nothing. The test part is never read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from nlp.classifier import Classifier
from nlp.dataset import BadInput, Example
from nlp.evaluate import RoutingReport, f1, routing_report
from nlp.labelled import Labelled, Split, read_labelled
from nlp.train import TrainParams, stratified_folds, train_examples
from nlp.types import Calibration, Classification

FOLDS = 5
GRID: dict[str, tuple[float, ...]] = {
    "learned_weight": (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0),
    "learned_min": (0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
    "topic_weight": (0.0, 0.25, 0.5, 1.0),
    "topic_floor": (0.01, 0.05, 0.1, 0.2),
    "saturation": (0.0, 0.25, 0.5, 1.0),
    "fallback_prior": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "life_veto": (0.0, 0.02, 0.05, 0.1, 0.2),
    "life_with_type": (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5),
    "life_alone": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0),
    "life_sure": (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
    "consult_veto": (0.0, 0.05, 0.1, 0.2, 0.3),
    "consult_alone": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0),
    "immediate_veto": (0.0, 0.05, 0.1, 0.2, 0.3),
    "immediate_alone": (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
}

Fold = tuple[Classifier, list[Labelled]]
# The learned tables of a fold, and the field of the labels each learns (its parameters are
# given per field, as nlp.train.LABEL_PARAMS).
TABLES = (("types", "type"), ("urgency", "urgency"), ("dispositions", "disposition"))


def fold_classifiers(
    classifier: Classifier,
    training: Sequence[Labelled],
    params: Mapping[str, TrainParams],
    folds: int = FOLDS,
) -> list[Fold]:
    """Per fold: the classifier with the tables of TABLES learned without that fold (each
    with the parameters of its label field), and the fold."""
    names = sorted({item.type for item in training})
    seed = params["type"].seed
    fold_of = stratified_folds([names.index(item.type) for item in training], folds, seed)
    result = []
    with tempfile.TemporaryDirectory() as folder:
        for fold in range(folds):
            kept = [item for item, number in zip(training, fold_of, strict=True) if number != fold]
            tables: dict[str, Path] = {}
            for name, label in TABLES:
                tables[name] = Path(folder) / f"{name}-{fold}.tsv"
                train_examples(
                    [Example(getattr(item, label), text=item.text) for item in kept],
                    tables[name],
                    source=f"fold {fold} of a cross-validation",
                    regenerate="-",
                    params=params[label],
                )
            held_out = [
                item for item, number in zip(training, fold_of, strict=True) if number == fold
            ]
            variant = classifier.variant(
                type_table=tables["types"],
                urgency_table=tables["urgency"],
                disposition_table=tables["dispositions"],
            )
            result.append((variant, held_out))
    return result


def cross_validated(
    folds: Sequence[Fold], calibration: Calibration
) -> tuple[RoutingReport, list[tuple[Labelled, Classification]]]:
    """Every held-out message classified with its fold's table and the calibration."""
    pairs = []
    for classifier, held_out in folds:
        calibrated = classifier.variant(calibration=calibration)
        pairs += [(item, calibrated.classify(item.text)) for item in held_out]
    report = routing_report(
        folds[0][0].types, [item for item, _ in pairs], [result for _, result in pairs]
    )
    return report, pairs


def _objective(report: RoutingReport) -> tuple[float, float]:
    """Department accuracy, life's F3 (recall weighs three times: a missed emergency is the
    worst error, the targets are recall 0.95 at precision 0.80), and the F1 of consultation
    and of 即办, averaged; ties: type accuracy."""
    life = report.urgency_levels["life"]
    f3 = 10 * life.precision * life.recall / (9 * life.precision + life.recall or 1.0)
    immediate = f1(report.disposition_levels["immediate"])
    parts = (report.department_accuracy, f3, report.consultation_f1, immediate)
    return sum(parts) / len(parts), report.type_accuracy


def search(
    folds: Sequence[Fold],
    start: Calibration,
    out: TextIO,
    grid: dict[str, tuple[float, ...]] | None = None,
) -> Calibration:
    """Coordinate ascent over `grid` (default GRID) from `start`; each improvement is
    printed."""
    best = start
    best_score = _objective(cross_validated(folds, best)[0])
    out.write(f"start: objective {best_score[0]:.3f}, type {best_score[1]:.3f}\n")
    improved = True
    while improved:
        improved = False
        for name, values in (GRID if grid is None else grid).items():
            for value in values:
                candidate = best.model_copy(update={name: value})
                score = _objective(cross_validated(folds, candidate)[0])
                if score > best_score:
                    best, best_score, improved = candidate, score, True
                    out.write(
                        f"{name} = {value:g}: objective {score[0]:.3f}, type {score[1]:.3f}\n"
                    )
    return best


def format_errors(pairs: Sequence[tuple[Labelled, Classification]]) -> str:
    """The misrouted held-out messages: gold type, chosen type, the words that decided."""
    lines = []
    for item, result in pairs:
        if item.type != result.type:
            text = " ".join(item.text.split())[:90]
            lines.append(f"{item.type} -> {result.type} [{' '.join(result.keywords)}] {text}")
    return "\n".join(sorted(lines))


def calibrate_command(
    classifier: Classifier,
    out: TextIO,
    params: Mapping[str, TrainParams],
    *,
    errors: bool = False,
    training: Sequence[Labelled] | None = None,
    only: Sequence[str] = (),
) -> Calibration:
    """Search the calibration on the training part (only the settings named in `only`, if
    given); print it as config.yaml's `nlp.calibration`, the cross-validated report and, if
    asked, the misrouted messages."""
    unknown = sorted(set(only) - set(GRID))
    if unknown:
        raise BadInput(
            f"not a calibration setting: {', '.join(unknown)} (one of {', '.join(GRID)})"
        )
    training = read_labelled(split=Split.TRAIN) if training is None else training
    folds = fold_classifiers(classifier, training, params)
    grid = {name: GRID[name] for name in only} if only else None
    best = search(folds, classifier.calibration, out, grid)
    report, pairs = cross_validated(folds, best)
    out.write("\nnlp:\n  calibration:\n")
    for name, value in best.model_dump().items():
        out.write(f"    {name}: {value:g}\n")
    out.write("\ncross-validated on the training part:\n" + report.format() + "\n")
    if errors:
        out.write("\nmisrouted (gold -> chosen [words] text):\n" + format_errors(pairs) + "\n")
    return best
