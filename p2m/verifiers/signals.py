"""Weak verifiers: each scores one candidate in [0, 1], from a different source of evidence.

Pure functions over teacher replies, log-probabilities and embeddings, so they are tested without
models. Sources that err differently (the intended label, the teacher's votes and probabilities,
embedding similarity, format rules) are what lets their combination beat each one.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from decimal import Decimal, InvalidOperation
from difflib import SequenceMatcher

from p2m.dedup import label_key, normalize


def label_from_reply(reply: str, labels: list[str]) -> str | None:
    """The label a free-text reply names: an exact match, else the label mentioned first."""
    by_key = {label_key(label): label for label in labels}
    if label_key(reply) in by_key:
        return by_key[label_key(reply)]
    words = Counter(normalize(label) for label in labels)  # a label found by its words only if no other label has them
    norm = normalize(reply)
    positions = [
        (m.start(), label)
        for label in labels
        if (key := normalize(label)) and words[key] == 1 and (m := re.search(rf"\b{re.escape(key)}\b", norm))
    ]
    return min(positions)[1] if positions else None


def label_probs_from_logprobs(top_logprobs: list[dict[str, float]], labels: list[str]) -> dict[str, float] | None:
    """Label distribution from the first answer token's top log-probabilities.

    A token counts for a label when, lower-cased and stripped, it is a non-empty prefix of the label
    (so "Pos" and " positive" both count for "positive"). None when no top token matches any label.
    """
    if not top_logprobs:
        return None
    mass = {label: 0.0 for label in labels}
    for token, logprob in top_logprobs[0].items():
        piece = token.strip().lower()
        matches = [label for label in labels if piece and label.lower().startswith(piece)]
        for label in matches:
            mass[label] += math.exp(logprob) / len(matches)
    total = sum(mass.values())
    return {label: value / total for label, value in mass.items()} if total > 0 else None


def degenerate(text: str, min_words: int = 1) -> bool:
    """Empty, too short, a leftover instruction, or mostly one repeated word."""
    words = text.split()
    if len(words) < min_words or not text.strip():
        return True
    if re.match(r"^(task|write|input|output|example)\b", text.strip(), re.I):
        return True
    return len(words) >= 6 and len(set(w.lower() for w in words)) / len(words) < 0.3


def about_input(answer: str, source: str) -> bool:
    """Whether an answer repeats a word or number of its input ("Tuesday == 2014-04-29" does, "N/A" does not)."""

    def words(text: str) -> set[str]:
        return set(re.findall(r"\w{2,}|\d", normalize(text)))

    return bool(words(answer) & words(source))


def shape(text: str) -> str:
    """The surface form of an answer: digits -> 9, letters -> a, runs collapsed ("2021-03-03" -> "9-9-9")."""
    return re.sub(r"(.)\1+", r"\1", re.sub(r"[A-Za-z]", "a", re.sub(r"\d", "9", text.strip())))


def format_score(answer: str, source: str, examples: list[tuple[str, str]]) -> float:
    """1 for a non-empty answer with the shape of the examples' outputs, partial credit by shape
    similarity; 0 for an echo of the input or a copy of an example's output for another input (what
    a weak teacher does when it cannot solve the task), unless that output is not about its own
    input ("N/A"): such an answer may be any input's. With no examples, any other answer passes."""
    if not answer.strip() or normalize(answer) == normalize(source):
        return 0.0
    if any(
        normalize(answer) == normalize(out) and normalize(source) != normalize(inp) and about_input(out, inp)
        for inp, out in examples
    ):
        return 0.0
    if not examples:
        return 1.0
    return max(SequenceMatcher(None, shape(answer), shape(out)).ratio() for _, out in examples)


_NUMBER = r"[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?"


_FINAL_MARKERS = (r"\\boxed\{([^{}]*)\}", rf"answer is\s*:?\s*\$?\s*({_NUMBER})", rf"####\s*\$?\s*({_NUMBER})")


def marked_number(text: str) -> str | None:
    """The number a worked solution marks as final: \\boxed{...}, then "the answer is ...", then
    "#### ..." (GSM8K), written canonically (see _plain_number); None when nothing is marked."""
    for pattern in _FINAL_MARKERS:
        found = re.findall(pattern, text, re.I)
        numbers = re.findall(_NUMBER, found[-1]) if found else []
        if numbers:
            return _plain_number(numbers[-1])
    return None


def extract_number(text: str) -> str | None:
    """The final numeric answer of a worked solution: the marked one, else the last number in the text."""
    if (marked := marked_number(text)) is not None:
        return marked
    numbers = re.findall(_NUMBER, text)
    return _plain_number(numbers[-1]) if numbers else None


_FINAL_LINE = re.compile(rf"(?:####\s*\$?\s*|\\boxed\{{\s*\$?|answer is\s*:?\s*\$?\s*){_NUMBER}[^\n]*", re.I)


def worked_solution(answer: str) -> str | None:
    """Math: the solution a student can learn from, up to the line that marks its final number, which
    then ends in "#### N" (as the solve prompt asks; sampled solutions often box the number instead);
    None when nothing is marked or no step with a number comes before the mark (35 of 125 targets of
    a GSM8K run had no mark, 4 were a bare "#### N")."""
    final = _FINAL_LINE.search(answer)
    if not final or not re.search(r"\d", answer[: final.start()]):
        return None
    solution = answer[: final.end()].strip()
    return solution if final.group().startswith("####") else f"{solution}\n#### {marked_number(final.group())}"


def _plain_number(text: str) -> str:
    """One spelling per value, so numbers compare as numbers: 10.00 -> 10, .5 -> 0.5, 1e3 -> 1000,
    -0 -> 0, 1,000 -> 1000."""
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return text
    if abs(value.adjusted()) > 60:  # 1e999999 would print a million digits
        return text
    if value == 0:
        return "0"
    plain = format(value, "f")
    return plain.rstrip("0").rstrip(".") if "." in plain else plain


def answer_kind(instruction: str, examples: list[tuple[str, str]]) -> str:
    """'number' when the task is arithmetic or every example answer is a number, else 'text'."""
    if examples and all(re.fullmatch(rf"\s*\$?{_NUMBER}\s*", out) for _, out in examples):
        return "number"
    return (
        "number" if re.search(r"\b(math|arithmetic|word problems?|calculate|compute)\b", instruction, re.I) else "text"
    )


def normalize_answer(text: str, kind: str = "text") -> str:
    """What two answers must share to count as the same: the extracted number, or normalized text."""
    if kind == "number":
        return extract_number(text) or normalize(text)
    return normalize(text)


def agreement(reference: str, others: list[str], kind: str = "text") -> float:
    """Self-consistency: the share of sampled answers equal to the reference after normalization."""
    ref = normalize_answer(reference, kind)
    return sum(normalize_answer(o, kind) == ref for o in others) / len(others) if others else 0.0


def judge_yes_probability(reply_text: str, top_logprobs: list[dict[str, float]]) -> float:
    """Teacher-as-judge: P(yes) / (P(yes) + P(no)) from the first token's log-probabilities; from the
    reply text (1 or 0) when the backend gives none or neither word is among the top tokens."""
    if top_logprobs:
        mass = {"yes": 0.0, "no": 0.0}
        for token, logprob in top_logprobs[0].items():
            word = token.strip().lower()
            if word in mass:
                mass[word] += math.exp(logprob)
        if sum(mass.values()) > 0:
            return mass["yes"] / (mass["yes"] + mass["no"])
    return float(reply_text.strip().lower().startswith("yes"))


def calibrate(distributions: list[dict[str, float]]) -> list[dict[str, float]]:
    """Divide each label's probability by its mean over all items, then renormalize.

    A weak teacher leans towards some labels whatever the input (SmolLM2 says "positive" to most
    reviews); dividing by the verifier's own average removes that prior without any gold labels
    (contextual calibration, Zhao et al. 2021).
    """
    if not distributions:
        return []
    labels = list(distributions[0])
    marginal = {l: sum(d[l] for d in distributions) / len(distributions) for l in labels}
    out = []
    for dist in distributions:
        scaled = {l: dist[l] / marginal[l] if marginal[l] > 0 else 0.0 for l in labels}
        total = sum(scaled.values())
        out.append({l: v / total for l, v in scaled.items()} if total > 0 else dict(dist))
    return out


def aggregate(scores: dict[str, float], weights: dict[str, float] | None = None) -> float:
    """Weighted mean of verifier scores (each in [0, 1]); missing weights count 1."""
    weights = weights or {}
    total = sum(weights.get(name, 1.0) for name in scores)
    return sum(value * weights.get(name, 1.0) for name, value in scores.items()) / total if total else 0.0
