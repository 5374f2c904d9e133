"""Our labelled sets (nlp/data/labels, see GUIDE.md there): reading them and their fixed split.

`board_*.csv` label messages of the 泰迪杯 data set by id (`id,type,disposition,urgency`); the
texts are read from the data set's unlabelled file, which is not ours to redistribute.
`phone_*.jsonl` are messages we wrote, with their labels. Half of every file is the test
part, by a hash of the id or text: it is never trained or tuned on.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

LABELS_DIR = Path(__file__).parent / "data" / "labels"
# The shared data sets live beside the project's checkout (override: APPEALBOT_DATA_DIR).
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BOARD_FILE = "teddy2020c_messages_unlabeled.csv"


class Split(StrEnum):
    TRAIN = "train"
    TEST = "test"


@dataclass(frozen=True)
class Labelled:
    """A message with the labels a person gave it."""

    text: str
    type: str
    disposition: str
    urgency: str
    source: str  # the file it came from

    @property
    def split(self) -> Split:
        return split_of(self.source.split("_")[0] + ":" + self.text)


def split_of(key: str) -> Split:
    digest = hashlib.sha1(key.encode("utf-8")).digest()  # noqa: S324 - a split, not security
    return Split.TEST if digest[0] % 2 == 0 else Split.TRAIN


def shared_data_dir() -> Path:
    return Path(os.environ.get("APPEALBOT_DATA_DIR") or SHARED_DATA)


def board_texts(path: Path) -> dict[str, str]:
    """id -> title and detail, as the resident wrote them."""
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["id"]: f"{row['title']}\n{row['detail']}" for row in csv.DictReader(handle)}


def read_labelled(
    labels_dir: Path = LABELS_DIR, data_dir: Path | None = None, *, split: Split | None = None
) -> list[Labelled]:
    """Every labelled message (of one split, if given); board files need the data set."""
    found = list(_read_all(labels_dir, data_dir or shared_data_dir()))
    return [item for item in found if split is None or item.split is split]


def _read_all(labels_dir: Path, data_dir: Path) -> Iterator[Labelled]:
    boards = sorted(labels_dir.glob("board_*.csv"))
    if boards:
        board = data_dir / BOARD_FILE
        if not board.exists():
            raise FileNotFoundError(f"{board}: the data set the board labels refer to")
        texts = board_texts(board)
        for path in boards:
            with path.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    yield Labelled(
                        texts[row["id"]],
                        row["type"],
                        row["disposition"],
                        row["urgency"],
                        path.stem,
                    )
    for path in sorted(labels_dir.glob("phone_*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    record = json.loads(line)
                    yield Labelled(
                        record["text"],
                        record["type"],
                        record["disposition"],
                        record["urgency"],
                        path.stem,
                    )
