"""Verifier labels against hidden gold: does the ensemble beat the teacher and each verifier?

    python benchmarks/verifiers.py --limit 100

Real inputs (SST-2 and TREC-coarse train texts from ../shared/data), labelled by the embedded teacher
and the other verifiers exactly as the verify stage does; gold labels are used only to score. The pool
verifier compares each input with label-conditioned inputs the teacher wrote for this task (--pool per
label), as a run's synthesize stage does. Prints one JSON object (last line) per task: accuracy of
teacher greedy, majority of the k+1 teacher answers, each verifier, the naive mean, the weighted pool
and the distilled verifier (a MiniLM cross-encoder trained on the weighted pool's scores, 2-fold
cross-fitted so it never scores an input it trained on), its Selection@1 agreement with the ensemble
and with majority vote, and the time ratio of scoring with it vs with the teacher-based ensemble.
Writes the README table (not with --no-readme).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import date
from pathlib import Path

from common import TREC, machine, write_readme_block
from distilled_verifier import DistilledVerifier

from p2m.files import cache_dir
from p2m.spec import TaskSpec
from p2m.stages.synthesize import candidate_requests, clean_generated
from p2m.stages.verify import channel_requests, classification_evidence, ensembles
from p2m.teacher.answers import label_requests, teacher_requests
from p2m.teacher.calls import CallCache, Teacher
from p2m.teacher.local import LocalBackend
from p2m.verifiers.embeddings import Embedder
from p2m.verifiers.signals import label_from_reply

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TABLE_START, TABLE_END = "<!-- verifiers: start -->", "<!-- verifiers: end -->"
TASKS = {
    "sst2": dict(
        file="sst2/train.jsonl",
        gold="label_text",
        names={"positive": "positive", "negative": "negative"},
        spec=TaskSpec(
            instruction="Classify movie reviews as positive or negative",
            task_type="classification",
            labels=["positive", "negative"],
            input_description="movie review",
        ),
    ),
    "trec_coarse": dict(
        file="trec/train.jsonl",
        gold="label_coarse",
        names=TREC,
        spec=TaskSpec(
            instruction="Classify each question by the type of its answer: abbreviation, description, entity, human, location or number",
            task_type="classification",
            labels=["abbreviation", "description", "entity", "human", "location", "number"],
            input_description="question",
        ),
    ),
}


def accuracy(predictions: list[str | None], gold: list[str]) -> float:
    return round(sum(p == g for p, g in zip(predictions, gold)) / len(gold), 4)


def distilled_predictions(spec: TaskSpec, texts: list[str], weighted: list[dict]) -> tuple[list[str], float]:
    """2-fold cross-fitted cross-encoder predictions and the seconds it spent scoring (not training)."""
    labels, query = spec.labels, [f"{spec.instruction}\n{t}" for t in texts]
    folds = [list(range(0, len(texts), 2)), list(range(1, len(texts), 2))]
    predictions: list[str | None] = [None] * len(texts)
    scoring_s = 0.0
    for train, held_out in (folds, folds[::-1]):
        verifier = DistilledVerifier()
        verifier.fit(
            [query[i] for i in train], [labels] * len(train), [[weighted[i][l] for l in labels] for i in train]
        )
        started = time.perf_counter()
        scores = verifier.score([query[i] for i in held_out], [labels] * len(held_out))
        scoring_s += time.perf_counter() - started
        for i, row in zip(held_out, scores):
            predictions[i] = labels[row.index(max(row))]
    return predictions, scoring_s


def run_task(task: dict, limit: int, pool_per_label: int, votes: int, teacher: Teacher, embedder: Embedder) -> dict:
    spec = task["spec"]
    planned = candidate_requests(spec, pool_per_label * len(spec.labels), seed=0)
    pool = [
        (clean_generated(r.text), meta["intended_label"])
        for (meta, _), r in zip(planned, teacher.chat([q for _, q in planned]))
    ]
    rows = [json.loads(line) for line in (DATA / task["file"]).read_text().splitlines()]
    rows = random.Random(0).sample(rows, min(limit, len(rows)))
    texts, gold = [r["text"] for r in rows], [task["names"][r[task["gold"]]] for r in rows]
    responses = teacher.chat([q for text in texts for q in teacher_requests(spec, text, votes)])
    replies = [responses[i : i + votes + 1] for i in range(0, len(responses), votes + 1)]
    started = time.perf_counter()
    sources = classification_evidence(spec, texts, replies, embedder, pool=pool, score=teacher.score)
    naive, weighted, diagnostics = ensembles(sources, spec.labels)
    local_s = time.perf_counter() - started  # embeddings and label model (teacher scores come cached)
    # The ensemble's teacher time: its likelihood scores (the votes feed only the greedy/majority baselines).
    scored = label_requests(spec, texts) + channel_requests(spec, texts)
    teacher_ms = sum(teacher.cache.get(CallCache.key(teacher.backend, q)).latency_ms for q in scored)
    distilled, distilled_s = distilled_predictions(spec, texts, weighted)

    def argmax(dists):
        return [max(d, key=d.get) for d in dists]

    def majority(answers):
        labels = [label_from_reply(a.text, spec.labels) for a in answers]
        counted = [l for l in labels if l]
        return max(set(counted), key=counted.count) if counted else None

    majorities = [majority(r) for r in replies]
    ensemble_s = teacher_ms / 1000 + local_s
    return {
        "n": len(rows),
        "teacher_greedy": accuracy([label_from_reply(r[0].text, spec.labels) for r in replies], gold),
        f"majority_of_{votes + 1}": accuracy(majorities, gold),
        **{f"verifier_{k}": accuracy(argmax(v), gold) for k, v in sources.items()},
        "naive_ensemble": accuracy(argmax(naive), gold),
        "weighted_ensemble": accuracy(argmax(weighted), gold),
        "distilled_verifier": accuracy(distilled, gold),
        "distilled_selection_at_1_vs_ensemble": accuracy(distilled, argmax(weighted)),
        "distilled_selection_at_1_vs_majority": accuracy(distilled, majorities),
        "ensemble_seconds_per_input": round(ensemble_s / len(texts), 4),
        "distilled_seconds_per_input": round(distilled_s / len(texts), 4),
        "distilled_compute_ratio": round(distilled_s / ensemble_s, 4),
        "label_model_estimated_accuracy": diagnostics["estimated_accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=300, help="inputs per dataset")
    parser.add_argument(
        "--pool", type=int, default=32, help="label-conditioned teacher inputs per label for the pool verifier"
    )
    parser.add_argument("--votes", type=int, default=3, help="sampled teacher answers per input")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--no-readme", action="store_true", help="do not write the table into README.md")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"needs ../shared/data beside the checkout ({DATA})")
    teacher = Teacher(LocalBackend(), CallCache(cache_dir() / "teacher_calls.sqlite"))
    embedder = Embedder()
    started = time.perf_counter()
    results = {
        name: run_task(TASKS[name], args.limit, args.pool, args.votes, teacher, embedder)
        for name in args.tasks.split(",")
    }
    results["teacher_calls"] = teacher.ledger.calls
    results["seconds"] = round(time.perf_counter() - started, 1)
    if not args.no_readme:
        command = f"python benchmarks/verifiers.py --limit {args.limit} --pool {args.pool} --votes {args.votes} --tasks {args.tasks}"
        write_readme_block(
            TABLE_START,
            TABLE_END,
            readme_table({name: results[name] for name in args.tasks.split(",")}, command, results["seconds"]),
        )
    print(json.dumps(results))


def readme_table(results: dict, command: str, seconds: float) -> str:
    """Accuracy against gold of every reading (rows) on each task (columns)."""
    names = list(results)
    readings = [
        k
        for k in results[names[0]]
        if k == "teacher_greedy"
        or k.startswith(("majority_of", "verifier_"))
        or k in ("naive_ensemble", "weighted_ensemble", "distilled_verifier")
    ]
    lines = [
        f"`{command}`, {date.today()}, {machine()}; {seconds:.0f} s; teacher SmolLM2-135M-Instruct (transformers).",
        "",
        "| accuracy | " + " | ".join(f"{n} (n={results[n]['n']})" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    lines += [
        f"| {reading} | " + " | ".join(f"{results[n][reading]:.3f}" for n in names) + " |" for reading in readings
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
