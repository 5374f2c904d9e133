"""Plain functions behind the CLI's classify, train and eval commands (bot/cli.py parses args)."""

from __future__ import annotations

import json
import logging
import random
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from nlp.calibrate import calibrate_command
from nlp.classifier import Classifier
from nlp.dataset import Example, read_examples
from nlp.evaluate import evaluate, evaluate_routing
from nlp.labelled import Labelled, Split, read_labelled
from nlp.train import LABEL_PARAMS, TYPE_PARAMS, TrainParams, TrainSummary, train, train_examples
from nlp.types import Classification

logger = logging.getLogger(__name__)

CURVE_STEPS = (0, 100, 200, 400, 800, 1600)
CURVE_SEED = 0


def _read_line(line: str) -> tuple[str, dict[str, Any]]:
    """The message of an input line, the `text` field of a JSON object (else the line), and
    what its output line starts with: the object's `id`, if it has one."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError:
            return stripped, {}
        text = record.get("text") if isinstance(record, dict) else None
        if isinstance(text, str):
            return text, {"id": record["id"]} if "id" in record else {}
    return stripped, {}


def _record(result: Classification, *, explain: bool) -> dict[str, Any]:
    """What `classify` prints of a result. A case for 人工研判 is given no type, category or
    department: as the resident is told none, the dispatcher chooses them."""
    sorted_out = not result.needs_triage
    record: dict[str, Any] = {
        "type": result.type if sorted_out else None,
        "category": result.category if sorted_out else None,
        "disposition": result.disposition.value,
        "department": result.department if sorted_out else None,
        "urgency": result.urgency.value,
        "confidence": result.confidence,
        "needs_triage": result.needs_triage,
        "keywords": list(result.keywords),
    }
    if explain:
        record |= {
            "candidates": [list(pair) for pair in result.candidates],
            "topic": result.topic,
            "consultation": result.consultation,
            "hazard": result.hazard.value if result.hazard else None,
            "faq_answer": result.faq_answer,
        }
    return record


def unknown_names(given: Sequence[str] | None, valid: Sequence[str], what: str) -> str | None:
    """Why `given` (names of candidate `what`s) cannot be used, listing the valid ones; None
    when every name is known."""
    unknown = [name for name in given or () if name not in valid]
    if not unknown:
        return None
    return f"unknown {what}: {', '.join(unknown)} (valid: {', '.join(valid)})"


def classify_stream(
    classifier: Classifier,
    lines: Iterable[str],
    out: TextIO,
    types: list[str] | None = None,
    *,
    explain: bool = False,
) -> int:
    """One JSON line per input line (plain text or JSONL with `text` and maybe `id`), in
    order: the classification, or {"error": "empty"} for a line with no text.

    `explain` adds why: the candidates with their probabilities (for 人工研判), the topic,
    the intent and the hazard. Returns the number of lines classified.
    """
    count = 0
    for line in lines:
        text, record = _read_line(line)
        if text.strip():
            record |= _record(classifier.classify(text, types=types), explain=explain)
            count += 1
        else:
            record["error"] = "empty"
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return count


def train_command(
    train_csv: Path, out_tsv: Path, out: TextIO, params: TrainParams | None = None
) -> TrainSummary:
    """Train the topic table and print a one-line summary."""
    summary = train(train_csv, out_tsv, params=params)
    out.write(f"wrote {out_tsv}: {summary}\n")
    return summary


def corrections_as_examples(
    classifier: Classifier, corrections: Sequence[tuple[str, str]]
) -> list[Example]:
    """The center's routing corrections (text, department it was finally sent to) as typed
    examples: the type of that department the classifier finds likeliest for the text."""
    townships = {name for _, name in classifier.townships}
    examples = []
    for text, department in corrections:
        names = [
            spec.name
            for spec in classifier.types
            if spec.department == department
            or (spec.department == "{township}" and department in townships)
        ]
        if names:
            examples.append(Example(classifier.classify(text, types=names).type, text=text))
    return examples


def train_types_command(
    out_tsv: Path,
    out: TextIO,
    *,
    corrections: Sequence[Example] = (),
    labelled: Sequence[Labelled] | None = None,
) -> TrainSummary:
    """Train the type table on the labelled sets' training part plus the corrections."""
    labelled = read_labelled(split=Split.TRAIN) if labelled is None else labelled
    summary = train_examples(
        [Example(item.type, text=item.text) for item in labelled] + list(corrections),
        out_tsv,
        source=(
            f"the training part of nlp/data/labels ({len(labelled)} messages) and "
            f"{len(corrections)} routing corrections from the ledger"
        ),
        regenerate=f"appealbot nlp train --types [--from-ledger] --out {out_tsv}",
        params=TYPE_PARAMS,
    )
    out.write(f"wrote {out_tsv}: {summary}\n")
    return summary


def train_label_command(
    field: str, out_tsv: Path, out: TextIO, *, labelled: Sequence[Labelled] | None = None
) -> TrainSummary:
    """Train the urgency or the disposition table (`field` of the labels) on the labelled
    sets' training part, with that table's parameters (LABEL_PARAMS)."""
    labelled = read_labelled(split=Split.TRAIN) if labelled is None else labelled
    summary = train_examples(
        [Example(getattr(item, field), text=item.text) for item in labelled],
        out_tsv,
        source=f"the training part of nlp/data/labels ({len(labelled)} messages)",
        regenerate=f"appealbot nlp train --labels {field} --out {out_tsv}",
        params=LABEL_PARAMS[field],
    )
    out.write(f"wrote {out_tsv}: {summary}\n")
    return summary


def eval_command(
    classifier: Classifier,
    path: Path,
    out: TextIO,
    *,
    topics: list[str] | None = None,
    resegment: bool = False,
) -> float:
    """Evaluate the learned topics on a labeled CSV/JSONL file; returns the macro-F1."""
    report = evaluate(classifier, read_examples(path), topics=topics, resegment=resegment)
    out.write(report.format() + "\n")
    return report.macro_f1


def routing_command(classifier: Classifier, out: TextIO, *, topic_file: Path | None) -> float:
    """What ships, on the labelled sets' test part, and the topics' macro-F1 on raw text;
    returns the department accuracy."""
    topic_f1 = None
    if topic_file is not None:
        topic_f1 = evaluate(classifier, read_examples(topic_file), resegment=True).macro_f1
    report = evaluate_routing(classifier, read_labelled(split=Split.TEST), topic_f1)
    out.write(report.format() + "\n")
    return report.department_accuracy


def learning_curve_command(
    classifier: Classifier,
    out: TextIO,
    steps: Sequence[int] = CURVE_STEPS,
    *,
    labelled: Sequence[Labelled] | None = None,
) -> list[tuple[int, float]]:
    """How routing grows with the center's corrections, simulated: the type table is learned
    from N messages of the training part, shuffled with a fixed seed (each standing for a case
    a dispatcher routed by hand), and department accuracy is measured on the test part."""
    labelled = read_labelled() if labelled is None else labelled
    training = [item for item in labelled if item.split is Split.TRAIN]
    random.Random(CURVE_SEED).shuffle(training)  # noqa: S311 - a reproducible sample
    test = [item for item in labelled if item.split is Split.TEST]
    curve = []
    out.write("corrections  department accuracy  type accuracy\n")
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "types.tsv"
        for step in [n for n in steps if n < len(training)] + [len(training)]:
            if step:
                train_examples(
                    [Example(item.type, text=item.text) for item in training[:step]],
                    table,
                    source="a learning curve",
                    regenerate="-",
                    params=TYPE_PARAMS,
                )
            else:
                table.write_text("", encoding="utf-8")
            report = evaluate_routing(classifier.variant(type_table=table), test)
            curve.append((step, report.department_accuracy))
            out.write(
                f"{step:>11}  {report.department_accuracy:>19.3f}  {report.type_accuracy:>13.3f}\n"
            )
    return curve


def calibrate(
    classifier: Classifier, out: TextIO, *, errors: bool = False, only: Sequence[str] = ()
) -> None:
    """`nlp calibrate`: the calibration search, each table trained as `nlp train` does."""
    calibrate_command(classifier, out, LABEL_PARAMS, errors=errors, only=only)
