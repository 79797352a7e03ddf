"""Text normalization, near-duplicate removal and the leakage guard.

Near duplicates are found by Jaccard similarity of character 4-gram shingles, which catches both
reworded long texts and short inputs (dates, names) that word n-grams miss.
"""

from __future__ import annotations

import re


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


SENTENCE_PUNCTUATION = set(".,!?;:'\"`()[]{}-_/")


def label_key(text: str) -> tuple[str, str]:
    """What two labels must share to be the same label: their words (as `normalize` reads them) and
    their symbols, so "c++" and "c#", "+" and "-", or two emoji stay apart while "Positive." and
    "positive" meet."""
    symbols = "".join(c for c in text if not c.isalnum() and not c.isspace() and c not in SENTENCE_PUNCTUATION)
    return normalize(text), symbols


def shingles(text: str, n: int = 4) -> set[str]:
    norm = normalize(text)
    return {norm[i : i + n] for i in range(max(len(norm) - n + 1, 1))}


def word_runs(text: str, n: int) -> set[tuple[str, ...]]:
    words = normalize(text).split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def repeats_words(text: str, source: str, n: int = 4) -> bool:
    """Whether `text` repeats a run of `n` consecutive words of `source` (as `normalize` reads both)."""
    return bool(word_runs(text, n) & word_runs(source, n))


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def is_near(text: str, others: list[set[str]], threshold: float) -> bool:
    grams = shingles(text)
    return any(jaccard(grams, other) >= threshold for other in others)


def overlap(test_texts: list[str], train_texts: list[str], threshold: float = 0.8) -> list[int]:
    """Indices of test texts that are near-duplicates of some training text (train/test leakage)."""
    train = [shingles(t) for t in train_texts]
    return [i for i, text in enumerate(test_texts) if is_near(text, train, threshold)]


def dedupe(texts: list[str], threshold: float = 0.8, exclude: list[str] = ()) -> list[int]:
    """Indices of texts to keep: first of each near-duplicate group, none close to an `exclude` text
    (user examples and test items, which must never leak into training)."""
    excluded = [shingles(t) for t in exclude]
    kept_grams: list[set[str]] = []
    keep = []
    for i, text in enumerate(texts):
        grams = shingles(text)
        if any(jaccard(grams, other) >= threshold for other in excluded + kept_grams):
            continue
        kept_grams.append(grams)
        keep.append(i)
    return keep
