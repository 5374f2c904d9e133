"""Labeled example files: CSV with `label,tokens` or `label,text`, or JSONL with label/text."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class BadInput(ValueError):
    """What a user handed in cannot be used: a file that is not a labeled example file (the
    message names the file and line), a name that is not a setting."""


@dataclass(frozen=True)
class Example:
    """One labeled message: pre-segmented `tokens` or raw `text` (exactly one is set)."""

    label: str
    text: str | None = None
    tokens: tuple[str, ...] | None = None

    @property
    def joined_text(self) -> str:
        """The raw text, or the tokens joined without spaces (as a resident would type it)."""
        if self.text is not None:
            return self.text
        return "".join(self.tokens or ())


def read_examples(path: Path) -> list[Example]:
    """Read a labeled CSV (header label,tokens or label,text) or a JSONL file."""
    try:
        if path.suffix in {".jsonl", ".json"}:
            return list(_read_jsonl(path))
        return list(_read_csv(path))
    except UnicodeDecodeError as error:
        raise BadInput(f"{path}: not UTF-8 text ({error.reason})") from error


def _read_csv(path: Path) -> Iterator[Example]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        if "label" not in fields or not {"tokens", "text"} & set(fields):
            raise BadInput(f"{path}: expected columns label,tokens or label,text")
        column = "tokens" if "tokens" in fields else "text"
        for row in reader:
            label, value = row["label"], row[column]
            if label is None or value is None:  # fewer fields than the header names
                raise BadInput(f"{path}:{reader.line_num}: expected {len(fields)} columns")
            if column == "tokens":
                yield Example(label, tokens=tuple(value.split()))
            else:
                yield Example(label, text=value)


def _read_jsonl(path: Path) -> Iterator[Example]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict) or "label" not in record or "text" not in record:
                raise BadInput(f"{path}:{number}: expected a JSON object with label and text")
            yield Example(str(record["label"]), text=str(record["text"]))
