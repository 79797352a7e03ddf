"""Metrics with per-item scores, so every metric gets a bootstrap confidence interval.

Which of them a task reports is its kind's (p2m.tasks, `metric_items` and `score`): classification
accuracy, macro-F1, per class; extraction SQuAD-normalized exact match and token F1; math exact match of
the extracted final number; generation exact match and chrF++, plus JSON validity when the gold answers
are JSON (structured output).
"""

from __future__ import annotations

import json
import random
import re
import string
from collections import Counter

from p2m.dedup import label_key
from p2m.verifiers.signals import normalize_answer


def accuracy_items(predictions: list[str], golds: list[str]) -> list[float]:
    return [float(label_key(p) == label_key(g)) for p, g in zip(predictions, golds)]


def squad_normalize(text: str) -> str:
    """The SQuAD v1.1 evaluation script's normalization: lower case, no punctuation, no articles, single spaces."""
    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def squad_exact_items(predictions: list[str], golds: list[str]) -> list[float]:
    return [float(squad_normalize(p) == squad_normalize(g)) for p, g in zip(predictions, golds)]


def squad_f1_items(predictions: list[str], golds: list[str]) -> list[float]:
    """Token-overlap F1 after SQuAD normalization (both empty counts 1)."""
    out = []
    for p, g in zip(predictions, golds):
        pred, gold = squad_normalize(p).split(), squad_normalize(g).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if not pred or not gold:
            out.append(float(pred == gold))
        else:
            out.append(0.0 if not common else 2 * common / (len(pred) + len(gold)))
    return out


def numeric_exact_items(predictions: list[str], golds: list[str]) -> list[float]:
    """Math: the final numbers (\\boxed{}, "the answer is", ####, last number) must be equal."""
    return [float(normalize_answer(p, "number") == normalize_answer(g, "number")) for p, g in zip(predictions, golds)]


def json_valid_items(predictions: list[str]) -> list[float]:
    def valid(text: str) -> bool:
        try:
            json.loads(text)
            return True
        except ValueError:
            return False

    return [float(valid(p)) for p in predictions]


def per_class(predictions: list[str], golds: list[str], labels: list[str]) -> dict[str, dict]:
    out = {}
    for label in labels:
        tp = sum(p == label and g == label for p, g in zip(predictions, golds))
        predicted, support = sum(p == label for p in predictions), sum(g == label for g in golds)
        precision, recall = tp / predicted if predicted else 0.0, tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        out[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": support,
        }
    return out


def macro_f1(predictions: list[str], golds: list[str], labels: list[str]) -> float:
    classes = per_class(predictions, golds, labels)
    return sum(c["f1"] for c in classes.values()) / len(classes) if classes else 0.0


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


def paired_ratio(a: list[float], b: list[float], samples: int = 1000, seed: int = 0) -> dict:
    """mean(a) / mean(b) over the same items (retention: student over teacher), with a paired bootstrap
    95% interval (items resampled together)."""
    if not a or not sum(b):
        return {"mean": None, "ci95": None}
    rng, n = random.Random(seed), len(a)
    ratios = []
    for _ in range(samples):
        picked = rng.choices(range(n), k=n)
        ratios.append(sum(a[i] for i in picked) / max(sum(b[i] for i in picked), 1e-9))
    ratios.sort()
    return {
        "mean": round(sum(a) / sum(b), 4),
        "ci95": (round(ratios[int(0.025 * samples)], 4), round(ratios[int(0.975 * samples) - 1], 4)),
    }


def summaries(items: dict[str, list[float]]) -> dict:
    """Each metric's per-item scores as a mean with its 95% CI (`name`, `name_ci95`); a task kind's
    `score` (p2m.tasks) adds n and what else it reports."""
    out: dict = {}
    for name, values in items.items():
        out[name], out[f"{name}_ci95"] = round(sum(values) / len(values), 4), bootstrap_ci(values)
    return out


def main_metric(scores: dict) -> str:
    """The metric a task is judged by, from the metrics present in its scores."""
    return next(name for name in ("accuracy", "chrf", "exact_match") if name in scores)


def secondary_metric(scores: dict) -> str | None:
    """The metric shown beside the main one, where the task type has one."""
    return next(
        (
            name
            for name in ("macro_f1", "f1", "exact_match", "json_valid")
            if name in scores and name != main_metric(scores)
        ),
        None,
    )


def headline(scores: dict) -> str:
    """One line for people: the main metric with its 95% CI, then a secondary one."""
    if scores.get("n", 0) == 0:
        return "n/a"
    key, extra = main_metric(scores), secondary_metric(scores)
    low, high = scores[f"{key}_ci95"]
    return f"{key} {scores[key]:.3f} [{low:.2f}, {high:.2f}]" + (f", {extra} {scores[extra]:.3f}" if extra else "")


def strongest_zero_shot(result: dict) -> str | None:
    """The name of the strongest zero-shot baseline of an evaluation (MiniLM to the bare label names or
    to the names with their descriptions; a causal student's own base model): the one the student is held to."""
    differences = result.get("student_minus_baseline") or {}
    return min(
        (name for name in differences if "zero_shot" in name), key=lambda name: differences[name]["mean"], default=None
    )


def zero_shot_title(name: str) -> str:
    return "MiniLM zero-shot" if name.startswith("minilm") else "its base model zero-shot"


def verdict(result: dict) -> str:
    """One line on what the student is worth: retention of the teacher, and whether it beats the
    strongest zero-shot baseline (the CI of the paired difference above 0), flagged when it does not."""
    parts = []
    if (retention := result.get("retention")) and retention.get("mean") is not None:
        low, high = retention["ci95"]
        parts.append(
            f"retention (student / teacher {retention['metric']}): {retention['mean']:.2f} [{low:.2f}, {high:.2f}]"
        )
    if name := strongest_zero_shot(result):
        zero_shot = result["student_minus_baseline"][name]
        low, high = zero_shot["ci95"]
        title = zero_shot_title(name)
        shown = f"student - {title}: {zero_shot['mean']:+.3f} [{low:+.3f}, {high:+.3f}]"
        parts.append(shown if low > 0 else f"WARNING: not shown to beat {title} ({shown})")
    return "; ".join(parts)


def short_name(model: str) -> str:
    """'llama.cpp:qwen2.5-coder-1.5b@cc324af070c2' or 'org/model' -> its short name, for narrow tables."""
    return model.split("/")[-1].split(":")[-1].split("@")[0][:24]


def comparison_rows(teacher: dict, student: dict, baselines: dict | None = None) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the teacher vs student (and baselines) table, shared by the CLI and the TUI:
    main metric with its 95% CI, the second metric, size and speed."""
    main, second = main_metric(student["metrics"]["all"]), secondary_metric(student["metrics"]["all"])

    def cells(scores: dict) -> list[str]:
        low, high = scores[f"{main}_ci95"]
        return [f"{scores[main]:.2f} [{low:.2f}-{high:.2f}]", f"{scores[second]:.2f}" if second else "-"]

    rows = [
        [
            role,
            short_name(side["model"]),
            *cells(side["metrics"]["all"]),
            f"{side['params'] / 1e6:.0f}M" if side.get("params") else "?",
            f"{side['latency_ms']:.0f}",
        ]
        for role, side in (("teacher", teacher), ("student", student))
    ]
    rows += [["baseline", name, *cells(scores), "-", "-"] for name, scores in (baselines or {}).items()]
    return ["", "model", f"{main} [95% CI]", second or "", "params", "ms/item"], rows
