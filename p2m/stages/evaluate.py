"""Evaluate: teacher and student on the same items (eval/metrics.json, eval/predictions.jsonl).

The stage scores the run's held-out items, per source: `user` items carry the user's own answers
(gold); `synthetic` items carry verified teacher labels, which favour the teacher by construction.
`evaluate_file` (`p2m eval RUN --test FILE`) scores the same way on a real test file.

Classification is measured honestly in three ways: the teacher at its best reading (its greedy answer,
and its calibrated likelihood of each label where the backend scores text; the student is compared
with the stronger one), baselines that need no distillation on the same items (the training set's
majority label, MiniLM zero-shot similarity to the label names, and to their descriptions), and
retention (student / teacher).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from p2m import metrics, run_paths
from p2m.config import load_pairs
from p2m.dedup import overlap
from p2m.errors import P2MError
from p2m.files import read_jsonl, write_json, write_jsonl
from p2m.stages.base import RunContext, Stage
from p2m.student.model import Student
from p2m.teacher.answers import label_requests, softmax_rows, teacher_requests
from p2m.verifiers.embeddings import Embedder
from p2m.verifiers.signals import calibrate


def teacher_predictions(ctx: RunContext, spec, texts: list[str]) -> tuple[list[str], dict]:
    """The teacher's greedy answers (the same request verification made, so mostly cache hits) and
    its cost: latency per call as measured when each call was made, tokens and dollars per 1k requests."""
    responses = ctx.chat([teacher_requests(spec, t, votes=0)[0] for t in texts], "teacher on the test set")
    answers = [spec.kind.read_answer(spec, r.text) for r in responses]
    n = max(len(responses), 1)
    prompt, completion = sum(r.prompt_tokens for r in responses) / n, sum(r.completion_tokens for r in responses) / n
    price = ctx.teacher.backend.price_per_mtok
    latency = sum(r.latency_ms for r in responses) / n
    return answers, {
        "latency_ms": round(latency, 2),
        "seconds_per_1k": round(latency, 1),
        "tokens_per_request": round(prompt + completion, 1),
        "usd_per_1k": round((prompt * price[0] + completion * price[1]) / 1000, 4) if price else None,
        "latency_basis": "per request as measured when made (local backend: batch time / batch size)",
    }


def likelihood_labels(ctx: RunContext, spec, texts: list[str]) -> list[str] | None:
    """The teacher's calibrated label-likelihood reading (the verify stage's teacher verifier, so the
    run's own items are cache hits); calibrated over these inputs, no gold used. None where the backend
    cannot score text."""
    if not spec.kind.labelled or not ctx.teacher.can_score or not texts:
        return None
    distributions = calibrate(
        softmax_rows(ctx.score(label_requests(spec, texts), "teacher likelihoods on the test set"), spec.labels)
    )
    return [max(spec.labels, key=d.get) for d in distributions]


def baseline_predictions(spec, texts: list[str], train_labels: list[str]) -> dict[str, list[str]]:
    """What a user gets without distilling: the training set's majority label, and MiniLM's zero-shot
    similarity to the bare label names (and to the names with their descriptions, where the spec has them)."""
    majority = Counter(train_labels).most_common(1)[0][0] if train_labels else spec.labels[0]
    out = {"majority": [majority] * len(texts)}
    prototypes = {"minilm_zero_shot": {label: [label] for label in spec.labels}}
    if spec.label_descriptions:
        prototypes["minilm_zero_shot_described"] = {label: spec.label_texts(label) for label in spec.labels}
    embedder = Embedder() if texts else None
    for name, by_label in prototypes.items():
        out[name] = [max(p, key=p.get) for p in embedder.label_probs(texts, by_label)] if embedder else []
    return out


def base_model_predictions(ctx: RunContext, student: Student, texts: list[str]) -> dict[str, list[str]]:
    """A causal student's base model zero-shot on the same items, with the teacher's answer budget:
    what distillation added to it."""
    if not student.kind.generates or not texts:
        return {}
    ctx.progress.task("student's base model zero-shot", total=None)
    spec = ctx.spec()
    return {"base_zero_shot": student.untrained(spec.kind.answer_tokens(spec)).predict(texts)}


def scores_by_source(spec, rows: list[dict], predictions: list[str]) -> dict:
    result = {"all": spec.kind.score(predictions, [r["output"] for r in rows], spec.labels)}
    for source in sorted({r["source"] for r in rows}):
        picked = [(p, r["output"]) for p, r in zip(predictions, rows) if r["source"] == source]
        result[source] = spec.kind.score([p for p, _ in picked], [g for _, g in picked], spec.labels)
    return result


def teacher_readings(
    ctx: RunContext, spec, texts: list[str], golds: list[str]
) -> tuple[dict[str, list[str]], str, dict]:
    """The teacher's answers by each reading, the name of the stronger one on these items, and its cost."""
    greedy, cost = teacher_predictions(ctx, spec, texts)
    readings = {"greedy": greedy}
    if (likelihood := likelihood_labels(ctx, spec, texts)) is not None:
        readings["likelihood"] = likelihood
    main = metrics.main_metric(spec.kind.metric_items(greedy, golds))

    def mean(answers: list[str]) -> float:
        items = spec.kind.metric_items(answers, golds)[main]
        return sum(items) / max(len(items), 1)

    return readings, max(readings, key=lambda name: mean(readings[name])), cost  # ties: greedy, listed first


def comparisons(
    spec, student: list[str], teacher: list[str], baselines: dict[str, list[str]], golds: list[str]
) -> dict:
    """Student minus teacher and retention (student / teacher) on the main metric, and the student
    against each baseline; paired bootstrap intervals throughout."""
    student_items = spec.kind.metric_items(student, golds)
    main = metrics.main_metric(student_items)
    teacher_items = spec.kind.metric_items(teacher, golds)[main]
    result = {
        "student_minus_teacher": {"metric": main, **metrics.paired_difference(student_items[main], teacher_items)},
        "retention": {"metric": main, **metrics.paired_ratio(student_items[main], teacher_items)},
    }
    if baselines:
        result["student_minus_baseline"] = {
            name: metrics.paired_difference(student_items[main], spec.kind.metric_items(answers, golds)[main])
            for name, answers in baselines.items()
        }
    return result


def student_answers(ctx: RunContext, texts: list[str]) -> tuple[Student, list[str], dict]:
    """The student, its answers and its cost: machine time per 1k batched, and latency one at a time."""
    ctx.progress.task("student on the test set", total=None)
    student = Student(ctx.path(run_paths.MODEL))
    started = time.perf_counter()
    answers = student.predict(texts)
    seconds_per_1k = (time.perf_counter() - started) * 1000 / max(len(texts), 1)
    ctx.progress.task("measuring student latency", total=None)
    return student, answers, {"latency_ms": student.latency_ms(texts), "seconds_per_1k": seconds_per_1k}


def prediction_rows(rows: list[dict], readings: dict, best: str, student: list[str], baselines: dict) -> list[dict]:
    """eval/predictions.jsonl: each item with its gold answer, the teacher's (each reading), the student's
    and each baseline's."""
    return [
        {
            "id": r["id"],
            "source": r["source"],
            "input": r["input"],
            "gold": r["output"],
            "teacher": t,
            "student": s,
            **{f"teacher_{name}": answers[i] for name, answers in readings.items()},
            **{name: answers[i] for name, answers in baselines.items()},
        }
        for i, (r, t, s) in enumerate(zip(rows, readings[best], student))
    ]


def evaluate_rows(ctx: RunContext, rows: list[dict], out_dir: Path) -> dict:
    """Teacher, student and baselines on `rows` ({id, input, output, source}); writes metrics and predictions."""
    spec = ctx.spec()
    texts, golds = [r["input"] for r in rows], [r["output"] for r in rows]
    train = read_jsonl(ctx.path(run_paths.TRAIN))
    readings, best, teacher_cost = teacher_readings(ctx, spec, texts, golds)
    student, predicted, student_cost = student_answers(ctx, texts)
    if spec.kind.labelled:
        baselines = baseline_predictions(spec, texts, [r["output"] for r in train])
    else:
        baselines = base_model_predictions(ctx, student, texts)
    backend = ctx.teacher.backend
    write_jsonl(
        out_dir / Path(run_paths.EVAL_PREDICTIONS).name, prediction_rows(rows, readings, best, predicted, baselines)
    )
    leaked = overlap(texts, [r["input"] for r in train])
    result = {
        "n": len(rows),
        "leakage": {
            "test_items_near_a_training_input": len(leaked),
            "ids": [rows[i]["id"] for i in leaked][:20],
            "method": "character 4-gram Jaccard >= 0.8",
        },
        "teacher": {
            "model": ctx.teacher.identity,
            "reading": best,
            "metrics": scores_by_source(spec, rows, readings[best]),
            "readings": {name: spec.kind.score(answers, golds, spec.labels) for name, answers in readings.items()},
            "params": backend.num_params(),
            **teacher_cost,
        },
        "student": {
            "model": student.meta["base_model"],
            "metrics": scores_by_source(spec, rows, predicted),
            "params": student.num_params(),
            "disk_bytes": student.disk_bytes(),
            "latency_ms": round(student_cost["latency_ms"], 2),
            "seconds_per_1k": round(student_cost["seconds_per_1k"], 1),
            "usd_per_1k": None,
            "latency_basis": "latency: one request at a time; seconds_per_1k: batches of 16",
        },
        "baselines": {name: spec.kind.score(answers, golds, spec.labels) for name, answers in baselines.items()},
        # Machine time per 1k requests, both batched on this machine: how much cheaper the student is to run.
        "teacher_over_student_seconds": round(
            teacher_cost["seconds_per_1k"] / max(student_cost["seconds_per_1k"], 1e-6), 1
        ),
        **comparisons(spec, predicted, readings[best], baselines, golds),
    }
    write_json(out_dir / Path(run_paths.EVAL_METRICS).name, result)
    return result


def match_labels(rows: list[dict], labels: list[str], source: str) -> None:
    """Map gold labels onto the run's label names case-insensitively ("Positive" -> "positive")."""
    by_lower = {label.lower(): label for label in labels}
    for row in rows:
        gold = row["output"].strip().lower()
        if gold not in by_lower:
            raise P2MError(
                f"label {row['output']!r} in {source} is not one of the run's labels: {', '.join(labels)}; "
                "choose the field with --label-field"
            )
        row["output"] = by_lower[gold]


def evaluate_file(
    ctx: RunContext,
    path: str | Path,
    input_field: str | None = None,
    label_field: str | None = None,
    limit: int | None = None,
) -> dict:
    """Teacher and student on a real test file; results in eval/<file stem>/."""
    rows = load_pairs(path, input_field, label_field, kind="test")[:limit]
    spec = ctx.spec()
    if spec.kind.labelled:
        match_labels(rows, spec.labels, str(path))
    rows = [{"id": f"test-{i}", "source": "test_file", **row} for i, row in enumerate(rows)]
    return evaluate_rows(ctx, rows, ctx.path(f"eval/{Path(path).stem}"))


class Evaluate(Stage):
    name = "evaluate"
    version = 11  # math: the teacher asked without the user's examples as shots
    uses_teacher = True
    prompt_files = ("classify", "answer", "solve", "label_likelihood")
    inputs = (run_paths.SPEC, run_paths.MODEL_META, run_paths.TRAIN, run_paths.TEST)
    outputs = (run_paths.EVAL_METRICS, run_paths.EVAL_PREDICTIONS)

    def run(self, ctx: RunContext) -> None:
        evaluate_rows(ctx, read_jsonl(ctx.path(run_paths.TEST)), ctx.path(run_paths.EVAL))
