"""The keyword table (`data/keywords.tsv`): reading, writing, token features, junk filter.

The table is the classifier's model: one row per (category, keyword, weight). A message's
score for a category is the sum over its distinct tokens of weight x (1 + ln count); see
nlp/train.py for how the weights are learned and what they mean.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

KEYWORDS_PATH = Path(__file__).parent / "data" / "keywords.tsv"  # the 泰迪杯 topics
TYPES_PATH = Path(__file__).parent / "data" / "types.tsv"  # appeal types, from our labels
URGENCY_PATH = Path(__file__).parent / "data" / "urgency.tsv"  # urgency, from our labels
DISPOSITION_PATH = Path(__file__).parent / "data" / "dispositions.tsv"  # from our labels

# Tokens no person would accept as a keyword: place codes (A3, G5, K1), numbers, masked
# digits (0000), single ASCII letters, URL and markup debris, punctuation.
_JUNK = re.compile(
    r"[a-z]{1,2}\d*|[\d.%]+|[\W_]+|x000d|https?|www|com|cn|html?",
    re.IGNORECASE,
)

KeywordTable = dict[str, dict[str, float]]

# Table weights are logit coefficients x WEIGHT_SCALE (see nlp/train.py), so that the strongest
# learned keywords weigh about 3-4, the same range as hand-written config keywords. The
# classifier divides a category's score by WEIGHT_SCALE x ||tf|| (the Euclidean norm of the
# message's 1 + ln(count) values over its table tokens) before the softmax that yields the
# confidence; the ranking of categories does not depend on that divisor.
WEIGHT_SCALE = 0.25


def is_keyword_candidate(token: str) -> bool:
    """True when a token may appear in the keyword table."""
    return not _JUNK.fullmatch(token)


def term_weights(tokens: Iterable[str]) -> dict[str, float]:
    """Saturated term frequency 1 + ln(count) of each distinct token."""
    return {token: 1.0 + math.log(count) for token, count in Counter(tokens).items()}


def read_table(path: Path = KEYWORDS_PATH) -> KeywordTable:
    """Read a keyword TSV (category, keyword, weight; '#' lines and the header are skipped)."""
    table: KeywordTable = {}
    category, rows = "", {}  # rows come grouped by category: one dict lookup per group
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line or line[0] == "#" or line.isspace():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(f"{path}:{number}: expected category<TAB>keyword<TAB>weight")
        if parts[0] != category:
            if parts == ["category", "keyword", "weight"]:
                continue
            category = parts[0]
            rows = table.setdefault(category, {})
        rows[parts[1]] = float(parts[2])
    return table


def write_table(path: Path, table: Mapping[str, Mapping[str, float]], comment: str) -> int:
    """Write the table sorted by category, then weight (descending), then keyword.

    Returns the number of rows written.
    """
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    lines.append("category\tkeyword\tweight")
    rows = 0
    for category in sorted(table):
        ranked = sorted(table[category].items(), key=lambda item: (-item[1], item[0]))
        for keyword, weight in ranked:
            lines.append(f"{category}\t{keyword}\t{weight:.3f}")
            rows += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rows


def euclidean_norm(values: Iterable[float]) -> float:
    """sqrt(sum of squares); 0 for no values."""
    return math.sqrt(sum(value * value for value in values))


def softmax(values: Sequence[float]) -> list[float]:
    """Probabilities proportional to exp(value)."""
    top = max(values)
    exps = [math.exp(value - top) for value in values]
    total = sum(exps)
    return [value / total for value in exps]
