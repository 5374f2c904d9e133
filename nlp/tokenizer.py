"""Our own jieba tokenizer: governance user dictionary, stop words, text normalisation.

jieba's global tokenizer is never touched. `TextTokenizer()` builds a private
`jieba.Tokenizer` and adds the terms of `data/userdict.txt`. Its prefix dictionary is cached
in a persistent directory (`$XDG_CACHE_HOME/appealbot` or `~/.cache/appealbot`): jieba's own
marshal cache (`tmp_dir`/`cache_file`) for the first build, plus a pickle of the same
dictionary, which loads about four times faster than jieba's cache (0.4 s instead of 1.5 s on
our machines). Build it once at start-up (or use `default_tokenizer()`, which does so lazily
once per process) and share it.

Segmentation is jieba's accurate mode without its HMM new-word finder, everywhere in the
project (classifying, training, keyword checks): see `TextTokenizer.lcut`.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import re
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import jieba

from nlp.segment import Segmenter

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"
USERDICT_PATH = DATA_DIR / "userdict.txt"
STOPWORDS_PATH = DATA_DIR / "stopwords.txt"
T2S_PATH = DATA_DIR / "t2s.tsv"
CACHE_FILE_NAME = "jieba.cache"
FAST_CACHE_NAME = f"jieba-{jieba.__version__}.freq.pickle"

# jieba logs its dictionary loading to stderr at DEBUG; our logging is configured elsewhere.
logging.getLogger("jieba").setLevel(logging.WARNING)


GENERIC_PATH = DATA_DIR / "generic.txt"


@functools.cache
def generic_words() -> frozenset[str]:
    """Words too common in appeals to decide or explain anything (nlp/data/generic.txt)."""
    return frozenset(read_lines(GENERIC_PATH))


# The learned type table's back-off for words jieba does not know, misspellings and short
# texts: pairs of adjacent Chinese characters ("·有火", "·燥音") in a message's opening.
BIGRAM_MARK = "·"
BIGRAM_SPAN = 100
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")


def char_bigrams(text: str, span: int = BIGRAM_SPAN) -> list[str]:
    """The marked pairs of adjacent Chinese characters of the first `span` characters."""
    return [
        BIGRAM_MARK + run[start : start + 2]
        for run in _HAN_RUN.findall(text[:span])
        for start in range(len(run) - 1)
    ]


def default_cache_dir() -> Path:
    """Persistent directory for jieba's dictionary cache."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "appealbot"


def read_lines(path: Path) -> list[str]:
    """Non-empty, non-comment lines of a UTF-8 data file, stripped."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def load_translation(path: Path = T2S_PATH) -> dict[int, str]:
    """`str.translate` table: Traditional -> simplified characters, full-width ASCII -> ASCII."""
    table: dict[int, str] = {code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}
    table[0x3000] = " "
    for line in read_lines(path):
        traditional, simplified = line.split("\t")
        table[ord(traditional)] = simplified
    return table


class TextTokenizer:
    """A private jieba tokenizer with our user dictionary, stop words and normaliser."""

    def __init__(
        self,
        *,
        userdict: Path = USERDICT_PATH,
        stopwords: Path = STOPWORDS_PATH,
        translation: Path = T2S_PATH,
        cache_dir: Path | None = None,
    ) -> None:
        started = time.perf_counter()
        self.jieba = jieba.Tokenizer()
        self._segmenter = Segmenter(self.jieba)
        self._load_dictionary(cache_dir or default_cache_dir())
        entries = [line.split() for line in read_lines(userdict)]
        for entry in entries:
            self.add_word(*entry)
        self.user_words = tuple(entry[0] for entry in entries)
        self.stopwords = frozenset(read_lines(stopwords))
        self.translation = load_translation(translation)
        self._translated = re.compile(
            "[" + "".join(re.escape(chr(code)) for code in sorted(self.translation)) + "]+"
        )
        logger.debug("tokenizer ready in %.3f s", time.perf_counter() - started)

    def _load_dictionary(self, directory: Path) -> None:
        """Load jieba's prefix dictionary from our fast cache, or build and cache it."""
        fast_cache = directory / FAST_CACHE_NAME
        try:
            with fast_cache.open("rb") as handle:
                # Our own cache file in the user's cache directory, as trusted as jieba's.
                self.jieba.FREQ, self.jieba.total = pickle.load(handle)  # noqa: S301
            self.jieba.initialized = True
            return
        except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):
            logger.info("building jieba dictionary cache in %s", directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self.jieba.tmp_dir = str(directory)
        except OSError:
            logger.warning("cannot create %s; jieba cache goes to the temp dir", directory)
        self.jieba.cache_file = CACHE_FILE_NAME
        self.jieba.initialize()
        self._write_fast_cache(fast_cache)

    def _write_fast_cache(self, path: Path) -> None:
        try:
            fd, temporary = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                pickle.dump((self.jieba.FREQ, self.jieba.total), handle, pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)
        except OSError:
            logger.warning("cannot write the dictionary cache %s", path)

    def add_word(self, word: str, freq: str | int | None = None, tag: str | None = None) -> None:
        """Add a term to this tokenizer's dictionary (not to jieba's global one)."""
        self.jieba.add_word(word, int(freq) if freq is not None else None, tag)

    def is_single_token(self, word: str) -> bool:
        """True when the word is segmented as one token."""
        return self.lcut(word) == [word]

    def normalize(self, text: str) -> str:
        """Traditional -> simplified, full-width -> half-width, ASCII lower case."""
        # str.translate looks every character up in the table; translating only the runs of
        # characters it changes is 1.5 (a full-width comma every 12 characters) to 5 times
        # (none) faster.
        return self._translated.sub(self._translate, text).lower()

    def _translate(self, match: re.Match[str]) -> str:
        return match[0].translate(self.translation)

    def lcut(self, text: str) -> list[str]:
        """jieba segmentation (accurate mode, no HMM), no normalisation or filtering."""
        # jieba's HMM joins characters outside the dictionary into new words (棚改, 评标);
        # without it they stay single characters, which the keyword table also weighs.
        # Segmenting is about 20 % faster for 0.003 of macro-F1 (BENCHMARKS.md, Classifier).
        # nlp.segment returns exactly self.jieba.lcut(text, HMM=False), about twice as fast.
        return self._segmenter.lcut(text)

    def content_tokens(self, tokens: Iterable[str]) -> list[str]:
        """Tokens without whitespace, punctuation-only tokens and stop words."""
        return [
            token
            for token in (raw.strip() for raw in tokens)
            if token and token not in self.stopwords and any(ch.isalnum() for ch in token)
        ]

    def tokens(self, text: str) -> list[str]:
        """Normalised, segmented content tokens of a text."""
        return self.content_tokens(self.lcut(self.normalize(text)))


@functools.cache
def default_tokenizer() -> TextTokenizer:
    """The process-wide tokenizer with the packaged data files, built on first use."""
    return TextTokenizer()
