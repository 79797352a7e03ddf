"""Verifier labels against hidden gold: does the ensemble beat the teacher and each verifier?

    python benchmarks/verifiers.py --limit 100

Real inputs (SST-2 and TREC-coarse train texts from ../shared/data), labelled by the embedded teacher
and the other verifiers exactly as the verify stage does; gold labels are used only to score. Prints
one JSON object (last line): accuracy of teacher greedy, majority of the k+1 teacher answers, each
verifier, the naive mean and the label-model (Dawid-Skene) ensemble, plus the label model's
estimated accuracies (which never saw gold).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from p2m.embedded import cache_dir
from p2m.embeddings import Embedder
from p2m.llm import CallCache, Teacher
from p2m.llm_local import LocalBackend
from p2m.spec import TaskSpec
from p2m.stages.verify import classification_evidence, ensembles, teacher_requests
from p2m.verifiers import label_from_reply

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TASKS = {
    "sst2": dict(file="sst2/train.jsonl", gold="label_text", names={"positive": "positive", "negative": "negative"},
                 spec=TaskSpec(instruction="Classify movie reviews as positive or negative", task_type="classification",
                               labels=["positive", "negative"], input_description="movie review")),
    "trec_coarse": dict(file="trec/train.jsonl", gold="label_coarse",
                        names={"ABBR": "abbreviation", "DESC": "description", "ENTY": "entity", "HUM": "human", "LOC": "location", "NUM": "number"},
                        spec=TaskSpec(instruction="Classify each question by the type of its answer: abbreviation, description, entity, human, location or number",
                                      task_type="classification", labels=["abbreviation", "description", "entity", "human", "location", "number"],
                                      input_description="question")),
}


def accuracy(predictions: list[str | None], gold: list[str]) -> float:
    return round(sum(p == g for p, g in zip(predictions, gold)) / len(gold), 4)


def run_task(name: str, task: dict, limit: int, votes: int, teacher: Teacher, embedder: Embedder) -> dict:
    rows = [json.loads(line) for line in (DATA / task["file"]).read_text().splitlines()]
    rows = random.Random(0).sample(rows, min(limit, len(rows)))
    texts, gold = [r["text"] for r in rows], [task["names"][r[task["gold"]]] for r in rows]
    spec = task["spec"]
    requests = [q for text in texts for q in teacher_requests(spec, text, votes)]
    responses = teacher.chat(requests)
    replies = [responses[i : i + votes + 1] for i in range(0, len(responses), votes + 1)]
    sources = classification_evidence(spec, texts, replies, embedder)
    naive, weighted, diagnostics = ensembles(sources, spec.labels)

    def argmax(dists):
        return [max(d, key=d.get) for d in dists]

    def majority(answers):
        labels = [label_from_reply(a.text, spec.labels) for a in answers]
        counted = [l for l in labels if l]
        return max(set(counted), key=counted.count) if counted else None

    result = {
        "n": len(rows),
        "teacher_greedy": accuracy([label_from_reply(r[0].text, spec.labels) for r in replies], gold),
        f"majority_of_{votes + 1}": accuracy([majority(r) for r in replies], gold),
        **{f"verifier_{k}": accuracy(argmax(v), gold) for k, v in sources.items()},
        "naive_ensemble": accuracy(argmax(naive), gold),
        "weighted_ensemble": accuracy(argmax(weighted), gold),
        "label_model_estimated_accuracy": diagnostics["estimated_accuracy"],
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=300, help="inputs per dataset")
    parser.add_argument("--votes", type=int, default=3, help="sampled teacher answers per input")
    parser.add_argument("--tasks", default=",".join(TASKS))
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"needs ../shared/data beside the checkout ({DATA})")
    teacher = Teacher(LocalBackend(), CallCache(cache_dir() / "teacher_calls.sqlite"))
    embedder = Embedder()
    started = time.perf_counter()
    results = {name: run_task(name, TASKS[name], args.limit, args.votes, teacher, embedder) for name in args.tasks.split(",")}
    results["teacher_calls"] = teacher.ledger.calls
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
