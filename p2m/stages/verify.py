"""Verify: score every candidate with several weak verifiers, keep the good ones, split the data.

Classification: four verifiers each give a distribution over labels -- the label the input was written
for (one-hot), the teacher's votes (greedy + sampled), the teacher's first-token probabilities, and
MiniLM similarity to label prototypes. Their mean is the ensemble distribution; the target is its
argmax and the example's score its probability. Generation: the target is the teacher's greedy answer,
scored by self-consistency with sampled answers and a format check against the user's examples.

Writes data/train.jsonl and data/test.jsonl (user examples always go to test, never to training),
data/rejected.jsonl with the reason for each drop, and data/verify_summary.json.
"""

from __future__ import annotations

import random
from collections import Counter

from p2m import label_model, prompts
from p2m.dedup import dedupe, normalize
from p2m.embeddings import Embedder
from p2m.files import read_jsonl, write_json, write_jsonl
from p2m.llm import ChatRequest
from p2m.pipeline import RunContext, Stage
from p2m.spec import TaskSpec
from p2m.verifiers import (aggregate, agreement, calibrate, degenerate, format_score, label_from_reply,
                           label_probs_from_logprobs)

SAMPLE_TEMPERATURE = 0.8
# Votes and log-probabilities come from the same model and err together: together they weigh as
# one source, next to the intended label and the embeddings.
CLASSIFICATION_WEIGHTS = {"intended": 1.0, "teacher_vote": 0.5, "teacher_prob": 0.5, "embedding": 1.0}


def teacher_requests(spec: TaskSpec, text: str, votes: int) -> list[ChatRequest]:
    """Greedy answer (with top log-probabilities) first, then `votes` sampled answers."""
    shots = [({"input": e.input}, e.output) for e in spec.examples[:4] if e.output]
    if spec.task_type == "classification":
        choices = " or ".join([", ".join(spec.labels[:-1]), spec.labels[-1]])
        messages = prompts.chat("classify", shots, instruction=spec.instruction, labels=", ".join(spec.labels),
                                label_choices=choices, input=text)
        max_tokens = 6
    else:
        messages = prompts.chat("answer", shots, instruction=spec.instruction, input=text)
        longest = max((len(e.output) for e in spec.examples), default=0)
        max_tokens = min(256, max(24, longest)) if longest else 128  # ~3 chars a token: room for 3x
    greedy = ChatRequest(messages, max_tokens=max_tokens, top_logprobs=10)
    sampled = [ChatRequest(messages, max_tokens=max_tokens, temperature=SAMPLE_TEMPERATURE, seed=j + 1) for j in range(votes)]
    return [greedy, *sampled]


def classification_evidence(spec: TaskSpec, texts: list[str], replies: list[list], embedder: Embedder,
                            intended: list[str] | None = None) -> dict[str, list[dict[str, float]]]:
    """Each verifier's label distribution for each text, calibrated against its own label prior."""
    labels = spec.labels
    uniform = {l: 1 / len(labels) for l in labels}
    prototypes = {l: [l, f"{spec.input_description}: {l}"] + [e.input for e in spec.examples if e.output == l] for l in labels}
    votes = [[label_from_reply(a.text, labels) for a in answers] for answers in replies]
    sources = {"intended": [{l: float(l == want) for l in labels} for want in intended]} if intended else {}
    sources["teacher_vote"] = calibrate([{l: v.count(l) / len(v) for l in labels} for v in votes])
    sources["teacher_prob"] = calibrate([label_probs_from_logprobs(a[0].top_logprobs, labels) or uniform for a in replies])
    sources["embedding"] = calibrate(embedder.label_probs(texts, prototypes))
    return sources


def hard_votes(sources: dict[str, list[dict[str, float]]], labels: list[str]) -> list[list[int | None]]:
    """Each verifier's argmax label index per item; None (abstain) where its distribution is flat."""
    def vote(dist: dict[str, float]) -> int | None:
        values = [dist[l] for l in labels]
        return None if max(values) - min(values) < 1e-9 else values.index(max(values))
    return [[vote(dists[i]) for dists in sources.values()] for i in range(len(next(iter(sources.values()))))]


def ensembles(sources: dict[str, list[dict[str, float]]], labels: list[str]) -> tuple[list[dict], list[dict], dict]:
    """(a) naive mean of the distributions (with CLASSIFICATION_WEIGHTS) and (b) the Dawid-Skene
    posterior over the verifiers' votes; plus each verifier's estimated accuracy and their agreement."""
    n = len(next(iter(sources.values())))
    naive = [{l: aggregate({name: dists[i][l] for name, dists in sources.items()}, CLASSIFICATION_WEIGHTS) for l in labels} for i in range(n)]
    votes = hard_votes(sources, labels)
    model = label_model.fit(votes, len(labels))
    weighted = [dict(zip(labels, row.tolist())) for row in model.posteriors]
    diagnostics = {"estimated_accuracy": {name: round(a, 4) for name, a in zip(sources, model.accuracies())},
                   "agreement": label_model.agreement_matrix(votes, list(sources))}
    return naive, weighted, diagnostics


def score_classification(spec: TaskSpec, rows: list[dict], replies: list[list], embedder: Embedder) -> dict:
    """Target = argmax of the label model's posterior; score = its probability. Returns diagnostics."""
    labels = spec.labels
    sources = classification_evidence(spec, [r["input"] for r in rows], replies, embedder, [r["intended_label"] for r in rows])
    naive, weighted, diagnostics = ensembles(sources, labels)
    for i, row in enumerate(rows):
        target = max(labels, key=weighted[i].get)
        row.update(output=target, teacher_label=label_from_reply(replies[i][0].text, labels), score=round(weighted[i][target], 4),
                   score_naive=round(naive[i][target], 4), scores={name: round(dists[i][target], 4) for name, dists in sources.items()},
                   teacher_distribution={l: round(p, 4) for l, p in sources["teacher_prob"][i].items()})
    return diagnostics


def score_generation(spec: TaskSpec, rows: list[dict], replies: list[list]) -> None:
    examples = [(e.input, e.output) for e in spec.examples if e.output]
    for row, answers in zip(rows, replies):
        target = answers[0].text.split("\n")[0].strip()
        scores = {
            "self_consistency": agreement(target, [a.text.split("\n")[0] for a in answers[1:]]),
            "format": format_score(target, row["input"], examples),
        }
        row.update(output=target, score=round(aggregate(scores), 4), scores={k: round(v, 4) for k, v in scores.items()})


def real_row(row: dict, spec: TaskSpec) -> dict:
    """A dataset row in the shape of a verified one: its label is given, so it is scored 1 and its
    'teacher distribution' (for soft-kd) is one-hot."""
    extra = {"teacher_distribution": {l: float(l == row["output"]) for l in spec.labels}} if spec.task_type == "classification" else {}
    return {**row, "score": 1.0, "scores": {}, **extra}


def split(rows: list[dict], test_fraction: float, seed: int, stratify: bool) -> tuple[list[dict], list[dict]]:
    """Held-out share per label (classification) or overall; deterministic in the seed."""
    rng = random.Random(seed)
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["output"] if stratify else "", []).append(row)
    train, test = [], []
    for group in groups.values():
        rng.shuffle(group)
        n_test = round(len(group) * test_fraction) if len(group) >= 3 else 0
        test += group[:n_test]
        train += group[n_test:]
    return train, test


class Verify(Stage):
    name = "verify"
    version = 4  # real dataset rows join training
    config_fields = ("votes", "keep_threshold", "test_fraction", "seed")
    uses_teacher = True
    prompt_files = ("classify", "answer")
    outputs = ("data/train.jsonl", "data/test.jsonl", "data/verify_summary.json")

    def run(self, ctx: RunContext) -> None:
        spec = ctx.spec()
        candidates = read_jsonl(ctx.path("data/candidates.jsonl"))
        rejected: list[dict] = []

        def drop(rows: list[dict], keep: list[int], reason: str) -> list[dict]:
            kept = set(keep)
            rejected.extend({**row, "rejected": reason} for i, row in enumerate(rows) if i not in kept)
            return [row for i, row in enumerate(rows) if i in kept]

        real = [real_row(r, spec) for r in read_jsonl(ctx.path("data/retrieved.jsonl"))]
        # The generator sees user examples and real rows as few-shot seeds and sometimes copies one.
        known_inputs = [e.input for e in spec.examples] + [r["input"] for r in real]
        min_words = 2 if spec.task_type == "classification" else 1
        rows = drop(candidates, [i for i, r in enumerate(candidates) if not degenerate(r["input"], min_words)], "degenerate input")
        rows = drop(rows, dedupe([r["input"] for r in rows], exclude=known_inputs), "duplicate or copy of a given example")

        per_row = 1 + ctx.config.votes
        requests = [q for row in rows for q in teacher_requests(spec, row["input"], ctx.config.votes)]
        responses = ctx.chat(requests, "verifying with the teacher")
        replies = [responses[i : i + per_row] for i in range(0, len(responses), per_row)]
        if spec.task_type == "classification":
            ctx.progress.task("scoring with embeddings and the label model", total=None)
            diagnostics = score_classification(spec, rows, replies, Embedder()) if rows else {}
        else:
            score_generation(spec, rows, replies)
            diagnostics = {}
        rows = drop(rows, [i for i, r in enumerate(rows) if r["score"] >= ctx.config.keep_threshold], "score below threshold")

        for row in rows:
            row["source"] = "synthetic"
            row.pop("raw", None)
        train, test = split(rows, ctx.config.test_fraction, ctx.config.seed, spec.task_type == "classification")
        train += real  # real rows train only: the held-out set measures the task as the user stated it
        test += [{"id": f"user-{i}", "input": e.input, "output": e.output, "source": "user"} for i, e in enumerate(spec.examples) if e.output]
        test_inputs = {normalize(r["input"]) for r in test}
        train = [r for r in train if normalize(r["input"]) not in test_inputs]  # leakage guard, belt and braces

        write_jsonl(ctx.path("data/train.jsonl"), train)
        write_jsonl(ctx.path("data/test.jsonl"), test)
        write_jsonl(ctx.path("data/rejected.jsonl"), rejected)
        write_json(ctx.path("data/verify_summary.json"), {
            "candidates": len(candidates),
            "kept": len(rows),
            "real_rows": len(real),
            "train": len(train),
            "test": len(test),
            "removed": dict(Counter(r["rejected"] for r in rejected)),
            "mean_scores": {name: round(sum(r["scores"][name] for r in rows) / len(rows), 4) for name in (rows[0]["scores"] if rows else {})},
            "train_label_counts": dict(Counter(r["output"] for r in train)) if spec.task_type == "classification" else None,
            **diagnostics,
        })
        ctx.progress.log(f"verify: kept {len(rows)} of {len(candidates)} candidates; train {len(train)}, test {len(test)}")
