"""Plain functions behind the CLI's classify, train and eval commands (bot/cli.py parses args)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from nlp.classifier import Classifier
from nlp.dataset import read_examples
from nlp.evaluate import evaluate
from nlp.train import TrainParams, TrainSummary, train

logger = logging.getLogger(__name__)


def _line_text(line: str) -> str:
    """The message of an input line: the `text` field of a JSON object, else the line."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError:
            return stripped
        text = record.get("text") if isinstance(record, dict) else None
        if isinstance(text, str):
            return text
    return stripped


def classify_stream(
    classifier: Classifier,
    lines: Iterable[str],
    out: TextIO,
    categories: list[str] | None = None,
) -> int:
    """Classify each non-blank line (plain text or JSONL with `text`); one JSON line each.

    Returns the number of lines classified.
    """
    count = 0
    for line in lines:
        if not line.strip():
            continue
        result = classifier.classify(_line_text(line), categories=categories)
        record = {
            "category": result.category,
            "disposition": result.disposition.value,
            "department": result.department,
            "urgency": result.urgency.value,
            "confidence": result.confidence,
            "keywords": list(result.keywords),
        }
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def train_command(
    train_csv: Path, out_tsv: Path, out: TextIO, params: TrainParams | None = None
) -> TrainSummary:
    """Train the keyword table and print a one-line summary."""
    summary = train(train_csv, out_tsv, params=params)
    out.write(f"wrote {out_tsv}: {summary}\n")
    return summary


def eval_command(
    classifier: Classifier,
    path: Path,
    out: TextIO,
    *,
    categories: list[str] | None = None,
    resegment: bool = False,
) -> float:
    """Evaluate on a labeled CSV/JSONL file, print the report and return the macro-F1."""
    report = evaluate(classifier, read_examples(path), categories=categories, resegment=resegment)
    out.write(report.format() + "\n")
    return report.macro_f1
