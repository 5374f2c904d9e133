"""Hand keywords found inside words and as phrases, also when typed with a homophone.

Keywords are matched on the normalised text, not on jieba's tokens: 残疾 matches 残疾人证
and 盗窃 matches 盗窃案. A pinyin input method's typical slip — the right sound, the wrong
character (燥音 for 噪音) — is caught by matching the keywords' toneless pinyin too, at
`HOMOPHONE_FACTOR` of the keyword's weight, where no keyword was typed right (a back-off).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pypinyin.contrib.tone_convert import to_normal
from pypinyin.pinyin_dict import pinyin_dict

HOMOPHONE_FACTOR = 0.7
MIN_CHARS = 2


@dataclass(frozen=True, slots=True)
class Keyword:
    word: str
    owner: int  # the position of the type it belongs to
    weight: float


@dataclass(frozen=True, slots=True)
class Match:
    keyword: Keyword
    start: int
    weight: float  # the keyword's, or less for a homophone

    @property
    def end(self) -> int:
        return self.start + len(self.keyword.word)


def _syllables() -> dict[str, str]:
    """Each Chinese character's first (most common) reading, without tone."""
    return {chr(code): to_normal(readings.split(",")[0]) for code, readings in pinyin_dict.items()}


class PhraseMatcher:
    """Finds the keywords of many owners (types) in a text."""

    def __init__(self, keywords: Iterable[Keyword]) -> None:
        self.syllable = _syllables()
        self._by_chars: dict[str, list[Keyword]] = {}
        self._by_sound: dict[tuple[str, str], list[tuple[tuple[str, ...], Keyword]]] = {}
        for keyword in keywords:
            if len(keyword.word) < MIN_CHARS:
                raise ValueError(f"keyword {keyword.word!r}: at least {MIN_CHARS} characters")
            self._by_chars.setdefault(keyword.word[:2], []).append(keyword)
            sounds = self.sounds(keyword.word)
            if all(len(sound) > 1 for sound in sounds):  # only words all Chinese
                self._by_sound.setdefault((sounds[0], sounds[1]), []).append((sounds, keyword))

    def sounds(self, text: str) -> tuple[str, ...]:
        get = self.syllable.get
        return tuple(get(char, char) for char in text)

    def find(self, text: str) -> list[Match]:
        """Every keyword occurrence; homophones only where no keyword occurs at all (a
        back-off: a slip of the input method shows in short texts without other clues)."""
        found: list[Match] = []
        # The text's character pairs that start a keyword, found by set operations in C;
        # then each such pair's occurrences.
        for pair in set(map(operator.add, text, text[1:])) & self._by_chars.keys():
            start = text.find(pair)
            while start != -1:
                for keyword in self._by_chars[pair]:
                    if text.startswith(keyword.word, start):
                        found.append(Match(keyword, start, keyword.weight))
                start = text.find(pair, start + 1)
        return found or self._homophones(text)

    def _homophones(self, text: str) -> list[Match]:
        sounds = self.sounds(text)
        by_sound = self._by_sound
        found: list[Match] = []
        for start in range(len(sounds) - 1):
            for syllables, keyword in by_sound.get((sounds[start], sounds[start + 1]), ()):
                if sounds[start : start + len(syllables)] == syllables:
                    found.append(Match(keyword, start, keyword.weight * HOMOPHONE_FACTOR))
        return found


def strongest(matches: Sequence[Match]) -> list[Match]:
    """Per owner, the matches not inside a longer match of the same owner, each keyword once
    (拖欠工资 counts, not also the 工资 inside it)."""
    kept: list[Match] = []
    seen: set[tuple[int, str]] = set()
    for match in sorted(matches, key=lambda m: (-len(m.keyword.word), -m.weight, m.start)):
        key = (match.keyword.owner, match.keyword.word)
        if key in seen:
            continue
        inside = any(
            other.keyword.owner == match.keyword.owner
            and other.start <= match.start
            and match.end <= other.end
            for other in kept
        )
        if not inside:
            kept.append(match)
            seen.add(key)
    return kept
