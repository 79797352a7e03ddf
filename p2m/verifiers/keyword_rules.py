"""Keyword rules: words and word pairs that, in this data, nearly always come with one label.

A rule "where -> location" is proposed and confirmed by the data, not by the teacher: asked for keywords,
a weak teacher repeats the label name over and over. Instead, the other
verifiers' labels for the same inputs are counted per word; a word becomes a rule when it has enough
support and its label is precise enough. The rules see the text as a bag of words, a view the embedding
and the teacher do not have, so they err differently (co-training, Blum & Mitchell 1998). Each item is
scored with its own contribution to the counts left out, so a rule never just echoes its input's label.
Items with no rule get a flat distribution: the verifier abstains.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict


def terms(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}


def keyword_label_probs(
    texts: list[str],
    labels_of_texts: list[str | None],
    labels: list[str],
    min_support: int = 4,
    min_precision: float = 0.6,
) -> list[dict[str, float]]:
    """Per text, a label distribution from the rules that fire on it (flat where none does).

    labels_of_texts: the label other verifiers give each text (None: no confident label). Precision is
    smoothed, (count + 1) / (support + number of labels), so rare words need a clear majority.
    """
    bags = [terms(t) for t in texts]
    counts: dict[str, Counter] = defaultdict(Counter)
    for bag, label in zip(bags, labels_of_texts):
        if label is not None:
            for term in bag:
                counts[term][label] += 1
    out = []
    for bag, own in zip(bags, labels_of_texts):
        evidence = {label: 0.0 for label in labels}
        for term in bag:
            tally = counts[term].copy()
            if own is not None:
                tally[own] -= 1  # leave this item out
            support = sum(tally.values())
            if support < min_support:
                continue
            label, hits = tally.most_common(1)[0]
            precision = (hits + 1) / (support + len(labels))
            if precision >= min_precision:
                evidence[label] += math.log(precision * len(labels))  # > 0: better than chance
        if any(evidence.values()):
            top = max(evidence.values())
            weights = {label: math.exp(value - top) for label, value in evidence.items()}
        else:
            weights = {label: 1.0 for label in labels}
        total = sum(weights.values())
        out.append({label: w / total for label, w in weights.items()})
    return out
