"""Benchmark: `python -m benchmarks.bench_nlp [VALID_CSV]`, the classifier of config.yaml.

Prints macro-F1 on the validation file (pre-segmented tokens, and raw text re-segmented by
our tokenizer; candidates restricted to the file's labels), throughput of `Classifier.classify`
against bare jieba segmentation on the same raw texts (interleaved passes over chunks, fastest
of ROUNDS, CPU time), and the cold start of a new process (import, load config.yaml, build the
Classifier, classify one message). The baseline is jieba's default `lcut` (accurate mode with
HMM), with our dictionary; our segmenter (jieba's accurate mode without HMM, reimplemented in
nlp/segment.py), as the classifier segments, is printed too.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.classifier import build_classifier
from bot.settings import load_settings
from nlp.dataset import read_examples
from nlp.evaluate import evaluate

ROUNDS = 5
CHUNK = 20
VALID_CSV = Path("/work/shared/data/teddy2020c_valid_tokens.csv")
CONFIG = Path(__file__).resolve().parent.parent / "config.yaml"

COLD_START = (
    "import time; started = time.perf_counter(); "
    "from pathlib import Path; from bot.settings import load_settings; "
    "from bot.classifier import build_classifier; "
    f"classifier = build_classifier(load_settings(Path({str(CONFIG)!r}))); "
    "classifier.classify('小区门口占道经营，油烟很大'); "
    "print(time.perf_counter() - started)"
)


def chars_per_second(
    functions: Sequence[Callable[[str], object]], texts: Sequence[str], rounds: int
) -> list[float]:
    """Characters per CPU second of each function over the texts.

    The texts are taken in chunks of CHUNK; on each chunk the functions take turns `rounds`
    times and the fastest pass of each counts. Process CPU time, short interleaved passes and
    the minimum per chunk keep the load of a shared machine out of the ratio.
    """
    total = sum(len(text) for text in texts)
    seconds = [0.0] * len(functions)
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start : start + CHUNK]
        best = [float("inf")] * len(functions)
        for _ in range(rounds):
            for position, function in enumerate(functions):
                started = time.process_time()
                for text in chunk:
                    function(text)
                best[position] = min(best[position], time.process_time() - started)
        seconds = [spent + fastest for spent, fastest in zip(seconds, best, strict=True)]
    return [total / spent for spent in seconds]


def cold_start_seconds(runs: int = 3) -> float:
    """Median wall time of a fresh process building a Classifier and classifying once."""
    times = sorted(
        float(subprocess.check_output([sys.executable, "-c", COLD_START], text=True))  # noqa: S603
        for _ in range(runs)
    )
    return times[len(times) // 2]


def main(argv: Sequence[str]) -> int:
    valid = Path(argv[0]) if argv else VALID_CSV
    classifier = build_classifier(load_settings(CONFIG))
    examples = read_examples(valid)
    labels = {example.label for example in examples}
    segmented = evaluate(classifier, examples, topics=labels)
    raw = evaluate(classifier, examples, topics=labels, resegment=True)
    print(f"macro-F1 segmented {segmented.macro_f1:.4f} (accuracy {segmented.accuracy:.4f})")
    print(f"macro-F1 raw text  {raw.macro_f1:.4f} (accuracy {raw.accuracy:.4f})")
    texts = [example.joined_text for example in examples]
    bare, no_hmm, full = chars_per_second(
        [classifier.tokenizer.jieba.lcut, classifier.tokenizer.lcut, classifier.classify],
        texts,
        rounds=ROUNDS,
    )
    print(f"bare jieba lcut    {bare:,.0f} chars/s (default, HMM on: the baseline)")
    print(f"our segmenter      {no_hmm:,.0f} chars/s (TextTokenizer.lcut, nlp/segment.py)")
    print(
        f"classify           {full:,.0f} chars/s ({full / bare:.1%} of bare jieba, "
        f"{full / no_hmm:.1%} of our segmenter)"
    )
    print(f"cold start         {cold_start_seconds():.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
