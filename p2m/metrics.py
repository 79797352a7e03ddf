"""Task-aware metrics with per-item scores, so every metric gets a bootstrap confidence interval."""

from __future__ import annotations

import random

from p2m.dedup import normalize


def accuracy_items(predictions: list[str], golds: list[str]) -> list[float]:
    return [float(normalize(p) == normalize(g)) for p, g in zip(predictions, golds)]


def macro_f1(predictions: list[str], golds: list[str], labels: list[str]) -> float:
    f1s = []
    for label in labels:
        tp = sum(p == label and g == label for p, g in zip(predictions, golds))
        fp = sum(p == label and g != label for p, g in zip(predictions, golds))
        fn = sum(p != label and g == label for p, g in zip(predictions, golds))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / len(f1s) if f1s else 0.0


def chrf_items(predictions: list[str], golds: list[str]) -> list[float]:
    """Sentence-level chrF++ (character n-grams plus word bigrams), on a 0-1 scale."""
    from sacrebleu.metrics import CHRF

    chrf = CHRF(word_order=2)
    return [chrf.sentence_score(p, [g]).score / 100 for p, g in zip(predictions, golds)]


def bootstrap_ci(items: list[float], samples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile 95% interval of the mean; wide intervals are the honest answer for small test sets."""
    if not items:
        return (0.0, 0.0)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(items, k=len(items))) / len(items) for _ in range(samples))
    return (round(means[int(0.025 * samples)], 4), round(means[int(0.975 * samples) - 1], 4))


def paired_difference(a: list[float], b: list[float], samples: int = 1000, seed: int = 0) -> dict:
    """Mean of a - b over the same items, with a paired bootstrap 95% interval (items resampled
    together, so item difficulty cancels out)."""
    if not a:
        return {"mean": 0.0, "ci95": (0.0, 0.0)}
    diffs = [x - y for x, y in zip(a, b)]
    return {"mean": round(sum(diffs) / len(diffs), 4), "ci95": bootstrap_ci(diffs, samples, seed)}


def score(task_type: str, predictions: list[str], golds: list[str], labels: list[str]) -> dict:
    """The metrics of a task type: classification -> accuracy, macro-F1; text -> exact match, chrF++."""
    if not golds:
        return {"n": 0}
    exact = accuracy_items(predictions, golds)
    if task_type == "classification":
        return {"n": len(golds), "accuracy": round(sum(exact) / len(exact), 4), "accuracy_ci95": bootstrap_ci(exact),
                "macro_f1": round(macro_f1(predictions, golds, labels), 4)}
    chrf = chrf_items(predictions, golds)
    return {"n": len(golds), "exact_match": round(sum(exact) / len(exact), 4), "exact_match_ci95": bootstrap_ci(exact),
            "chrf": round(sum(chrf) / len(chrf), 4), "chrf_ci95": bootstrap_ci(chrf)}


def headline(scores: dict) -> str:
    """One line for people: the main metric with its 95% CI, then the secondary one."""
    for key, extra in (("accuracy", "macro_f1"), ("exact_match", "chrf")):
        if key in scores:
            low, high = scores[f"{key}_ci95"]
            return f"{key} {scores[key]:.3f} [{low:.2f}, {high:.2f}], {extra} {scores[extra]:.3f}"
    return "n/a"
