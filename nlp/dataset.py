"""Labeled example files: CSV with `label,tokens` or `label,text`, or JSONL with label/text."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


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
    if path.suffix in {".jsonl", ".json"}:
        return list(_read_jsonl(path))
    return list(_read_csv(path))


def _read_csv(path: Path) -> Iterator[Example]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        if "label" not in fields or not {"tokens", "text"} & set(fields):
            raise ValueError(f"{path}: expected columns label,tokens or label,text")
        for row in reader:
            if "tokens" in row:
                yield Example(row["label"], tokens=tuple(row["tokens"].split()))
            else:
                yield Example(row["label"], text=row["text"])


def _read_jsonl(path: Path) -> Iterator[Example]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            if not isinstance(record, dict) or "label" not in record or "text" not in record:
                raise ValueError(f"{path}:{number}: expected an object with label and text")
            yield Example(str(record["label"]), text=str(record["text"]))
