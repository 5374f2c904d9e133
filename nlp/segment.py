"""jieba's accurate mode without HMM, reimplemented for speed in pure Python.

`Segmenter.lcut(text)` returns exactly what `jieba.Tokenizer.lcut(text, HMM=False)` (jieba
0.42.1) returns with the same dictionary: the same split into blocks, the same dynamic
programme over the same floating-point sums, the same tie-breaking and the same joining of
single ASCII letters and digits. It is about twice as fast because it

- keeps `log(freq) - log(total)` per distinct frequency, instead of calling `log` for every
  edge of the word graph;
- finds the dictionary words starting at each position and picks the best one in the same
  backward pass, with flat lists instead of jieba's dict of lists and a generator per position.

Most of the remaining time is spent looking fragments up in the (large) dictionary.

The dictionary is read from the jieba tokenizer at every call (`FREQ`, `total`), so words added
with `add_word` are used at once. The cache of log-probabilities depends on nothing but the
frequency and the total, and is rebuilt whenever the total changes.
"""

from __future__ import annotations

from math import log
from typing import Any

from jieba import re_han_default, re_skip_default

# Single characters that jieba buffers and emits joined (a one-character word matching its
# re_eng, [a-zA-Z0-9]).
ENG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
NO_WORD = float("-inf")


class LogProbabilities(dict[int, float]):
    """frequency -> log(frequency) - log(total), computed on first use."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total
        self.logtotal = log(total)

    def __missing__(self, freq: int) -> float:
        # The same expression as jieba's calc, so the sums are bit-for-bit the same.
        value = self[freq] = log(freq) - self.logtotal
        return value


class Segmenter:
    """Fast equivalent of `lcut(text, HMM=False)` of one jieba tokenizer."""

    def __init__(self, jieba_tokenizer: Any) -> None:
        self.jieba = jieba_tokenizer
        self._logprob = LogProbabilities(1)

    def lcut(self, text: str) -> list[str]:
        """The tokens of `text`, as `jieba.Tokenizer.lcut(text, HMM=False)` returns them."""
        self.jieba.check_initialized()
        freq_get = self.jieba.FREQ.get
        logprob = self._logprob
        if logprob.total != self.jieba.total:
            logprob = self._logprob = LogProbabilities(self.jieba.total)
        words: list[str] = []
        # jieba cuts the text into runs of Han characters, ASCII letters and digits and
        # +#&._%- (re_han_default), segmented with the dictionary, and the text between them,
        # cut into single characters except "\r\n" (re_skip_default). re.split with a group
        # alternates: text between blocks, a block, text between blocks, ...
        for position, part in enumerate(re_han_default.split(text)):
            if position % 2:
                self._cut_block(part, words, freq_get, logprob)
            elif "\r\n" in part:
                for piece in re_skip_default.split(part):
                    if piece == "\r\n":
                        words.append(piece)
                    else:
                        words.extend(piece)
            else:
                words.extend(part)
        return words

    @staticmethod
    def _cut_block(block: str, words: list[str], freq_get: Any, logprob: LogProbabilities) -> None:
        """Append the words of one block (jieba's get_DAG, calc and __cut_DAG_NO_HMM)."""
        size = len(block)
        unknown = logprob[1]  # jieba weighs a character outside the dictionary as frequency 1
        # score[k]: best log-probability of block[k:]; end[k]: end of its first word.
        score = [0.0] * (size + 1)
        end = [0] * (size + 1)
        for start in range(size - 1, -1, -1):
            stop = start + 1
            freq = freq_get(block[start])
            if freq is None:
                score[start] = unknown + score[stop]
                end[start] = stop
                continue
            # Dictionary words starting here, shortest first: FREQ holds every prefix of a
            # word (with frequency 0 if it is not a word itself), so the scan ends at the
            # first fragment missing from it.
            best = NO_WORD
            best_end = stop
            while True:
                if freq:
                    value = logprob[freq] + score[stop]
                    # jieba takes max((value, end)): on a tie the longer word wins.
                    if value >= best:
                        best = value
                        best_end = stop
                if stop == size:
                    break
                stop += 1
                freq = freq_get(block[start:stop])
                if freq is None:
                    break
            if best == NO_WORD:
                # Only prefixes start here: the single character, as unknown.
                best = unknown + score[start + 1]
            score[start] = best
            end[start] = best_end
        # Walk the best path; runs of single ASCII letters and digits become one token.
        buffer = ""
        start = 0
        while start < size:
            stop = end[start]
            word = block[start:stop]
            if word in ENG_CHARS:
                buffer += word
            else:
                if buffer:
                    words.append(buffer)
                    buffer = ""
                words.append(word)
            start = stop
        if buffer:
            words.append(buffer)
