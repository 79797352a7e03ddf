"""The benchmark suite: does a p2m student keep its teacher's quality on real test sets no one here wrote?

    python benchmarks/run_all.py                                   # README table: full test sets, both teachers
    python benchmarks/run_all.py --limit 40 --tasks sst2 --no-readme   # a quick check

Each row is what a user runs: `p2m run` from the task description alone (plus at most 3 hand-written
examples for the text tasks, which have no train split), then `p2m eval` on the real test items. No
spec is corrected by hand: whether the parse stage read the task's real labels is a column, and where it
did not, the row is scored as parsed (gold labels the run does not know count as wrong) and a second,
labelled row shows the run with the spec a user would fix on the Spec screen.
Beside every student, on the same items: the teacher read two ways (its greedy answer, and its
calibrated likelihood of each label), the baselines `p2m eval` reports (majority label, MiniLM zero-shot
to the bare label names and to the names with the descriptions the parse stage wrote; the student is held
to the stronger), and a linear probe on frozen MiniLM embeddings of 100 real labelled train rows
(what 100 human labels buy). Retention = student / the teacher's stronger reading (paired bootstrap CI);
cost ratio = teacher over student time per example, both batched, side by side on 32 test inputs
(inference_cost.py). Classification on the full test sets; text tasks on --text-limit items.
Gold labels are mapped to the description's label names in a copy of the test rows in --work (never in
the repo). Rows accumulate in benchmarks/results/run_all.json (keyed teacher/task/n, each with its
command and date); the README table is written from them. Prints one JSON object (last line).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

import torch
from common import (
    DATA,
    TASKS,
    cell,
    expected_spec,
    interval,
    machine,
    run_teacher_calls,
    sampled_rows,
    scored,
    side,
    write_lines,
    write_readme_block,
    write_rows,
)
from inference_cost import side_by_side

from p2m import Pipeline, RunConfig, run_paths
from p2m.files import read_jsonl
from p2m.metrics import paired_difference, strongest_zero_shot
from p2m.student.classifier import fit_head
from p2m.tasks import kind_of
from p2m.verifiers.embeddings import Embedder

TABLE_START, TABLE_END = "<!-- run_all: start -->", "<!-- run_all: end -->"


RESULTS = Path(__file__).parent / "results" / "run_all.json"  # every row measured so far, for the README table
PROBE_ROWS = 100  # real labelled train rows for the linear probe


def spec_matches(parsed: dict, task: dict) -> bool:
    """Did the parse stage read the task's type and (for classification) its real label set?"""
    if parsed["task_type"] != task["type"]:
        return False
    return task["type"] != "classification" or {l.lower() for l in parsed["labels"]} == {
        l.lower() for l in task["names"].values()
    }


def logistic_regression(x_train: torch.Tensor, y_train: list[str], x_test: torch.Tensor, c: float = 1.0) -> list[str]:
    """Multinomial logistic regression with scikit-learn's default L2 penalty (C = 1): the student's own probe fit."""
    classes = sorted(set(y_train))
    weight, bias = fit_head(
        x_train, torch.tensor([[float(label == k) for k in classes] for label in y_train]), prior=None, c=c
    )
    return [classes[i] for i in (x_test @ weight.T + bias).argmax(dim=1).tolist()]


def linear_probe(task: dict, test_rows: list[dict], labels: list[str]) -> dict | None:
    """Logistic regression on frozen MiniLM embeddings of PROBE_ROWS real train rows (a seeded sample):
    what a user with 100 human labels gets without p2m."""
    if not task.get("train"):
        return None
    train = sampled_rows(task, "train", PROBE_ROWS, seed=1)
    embedder = Embedder()
    x_train, x_test = (
        embedder.encode([r["input"] for r in rows]).float().clone() for rows in (train, test_rows)
    )  # out of inference mode
    predictions = logistic_regression(x_train, [r["output"] for r in train], x_test)
    scores = kind_of("classification").score(predictions, [r["output"] for r in test_rows], labels)
    return {
        "metric": "accuracy",
        "value": scores["accuracy"],
        "ci95": scores["accuracy_ci95"],
        "rows": len(train),
        "predictions": predictions,
    }


def run_row(
    name: str,
    task: dict,
    teacher: str,
    test_rows: list[dict],
    args,
    corrected: bool = False,
    unlabeled: list[str] | None = None,
) -> dict:
    """One row: a p2m run for `task` with `teacher` (with `unlabeled` real texts, if given), evaluated on
    test_rows beside the teacher and baselines. A run whose parse missed the real labels cannot be scored
    against them: its row says so."""
    work = (
        Path(args.work) / teacher / (name + ("_corrected" if corrected else "") + ("_unlabeled" if unlabeled else ""))
    )
    num_examples = args.num_examples if task["type"] == "classification" else args.text_num_examples
    options = {"num_examples": num_examples} if num_examples else {}
    if unlabeled:
        options["unlabeled"] = str(write_lines(work / "unlabeled.txt", unlabeled))
    config = RunConfig(
        task=task["task"], examples=task.get("examples", []), out=str(work / "p2m"), teacher=teacher, **options
    )
    Pipeline(config).run(until="parse")
    if corrected:
        Pipeline(config).replace_spec(expected_spec(task, json.loads((config.run_dir() / "spec.json").read_text())))
    parsed = json.loads((config.run_dir() / "spec.json").read_text())
    row = {
        "task": name,
        "teacher": teacher,
        "n_test": len(test_rows),
        "spec_corrected_by_hand": corrected,
        "unlabeled_texts": len(unlabeled or []),
        "spec_parsed_correctly": None if corrected else spec_matches(parsed, task),
        "parsed_labels": parsed.get("labels"),
    }
    if row["spec_parsed_correctly"] is False:
        return row
    report = Pipeline(config).run()
    started = time.perf_counter()
    evaluation = Pipeline.open(config.run_dir()).evaluate(write_rows(work / "test.jsonl", test_rows))
    stages = json.loads((config.run_dir() / run_paths.STAGES).read_text())
    row |= {
        "teacher_greedy": scored(evaluation, "greedy"),
        "teacher_likelihood": scored(evaluation, "likelihood"),
        "teacher_best_reading": evaluation["teacher"]["reading"],
        "teacher_model": evaluation["teacher"]["model"],
        "minilm_zero_shot": scored(evaluation, "minilm_zero_shot"),
        "majority": scored(evaluation, "majority"),
        "minilm_zero_shot_described": scored(evaluation, "minilm_zero_shot_described"),
        "base_zero_shot": scored(evaluation, "base_zero_shot"),
        "zero_shot_reading": (zero_shot := strongest_zero_shot(evaluation)),
        "p2m_student": side(evaluation, "student"),
        "student_model": report["student"]["model"],
        "retention": evaluation["retention"],
        "student_minus_teacher": evaluation["student_minus_teacher"],
        "student_minus_zero_shot": (evaluation.get("student_minus_baseline") or {}).get(zero_shot),
        "train_examples": report["data"]["train"],
        "synthetic_examples": config.num_examples,
        # the seconds each stage took in the invocation that did its work (a resumed row keeps its cold time)
        "run_seconds": round(sum(stage["seconds"] for stage in stages.values()), 1),
        "eval_seconds": round(time.perf_counter() - started, 1),
        "teacher_calls": run_teacher_calls(config.run_dir()),
        "leakage": evaluation["leakage"]["test_items_near_a_training_input"],
        "inference_side_by_side": side_by_side(config.run_dir(), [r["input"] for r in test_rows[: args.timing_items]]),
    }
    if task["type"] == "classification" and (probe := linear_probe(task, test_rows, parsed["labels"])):
        predictions = read_jsonl(config.run_dir() / "eval" / "test" / Path(run_paths.EVAL_PREDICTIONS).name)
        golds = [r["output"] for r in test_rows]
        row["linear_probe"] = {k: v for k, v in probe.items() if k != "predictions"}
        row["student_minus_probe"] = paired_difference(
            [float(p["student"] == g) for p, g in zip(predictions, golds)],
            [float(a == g) for a, g in zip(probe["predictions"], golds)],
        )
    return row


def zero_shot_cell(r: dict) -> str:
    """Both MiniLM zero-shot readings (classifiers) or the causal student's base model (text tasks);
    "student - zero-shot" is taken against the stronger."""
    if base := r.get("base_zero_shot"):
        return f"base {cell(base)}"
    described = r.get("minilm_zero_shot_described")
    return cell(r["minilm_zero_shot"]) + (f" / {cell(described)}" if described else "")


COLUMNS = (
    "task",
    "n",
    "teacher",
    "spec parsed correctly",
    "teacher greedy",
    "teacher likelihood",
    "zero-shot: MiniLM to names / described; student's base model",
    "linear probe, 100 real rows",
    "p2m student",
    "retention (student / teacher's best)",
    "student - zero-shot [95% CI]",
    "student - probe [95% CI]",
    "teacher/student time per example",
    "train ex.",
    "run s",
    "measured by",
)


def table_line(r: dict) -> str:
    spec = (
        "corrected by hand (separate row)"
        if r["spec_corrected_by_hand"]
        else ("yes" if r["spec_parsed_correctly"] else f"no: {', '.join(r['parsed_labels'] or [])}")
    )
    if r["spec_parsed_correctly"] is False:  # not scored: its labels are not the test set's
        return (
            "| "
            + " | ".join(
                [r["task"], str(r["n_test"]), r["teacher"], spec]
                + ["not scored"] * (len(COLUMNS) - 5)
                + [f"`{r['command']}`, {r['date']}"]
            )
            + " |"
        )
    task = r["task"] + (f" + {r['unlabeled_texts']} unlabelled real texts" if r.get("unlabeled_texts") else "")
    cells = [
        task,
        r["n_test"],
        r.get("teacher_model", r["teacher"]).split("@")[0],
        spec,
        cell(r["teacher_greedy"]),
        cell(r["teacher_likelihood"]),
        zero_shot_cell(r),
        cell(r.get("linear_probe")),
        cell(r["p2m_student"]),
        interval(r["retention"], signed=False),
        interval(r["student_minus_zero_shot"]),
        interval(r.get("student_minus_probe")),
        time_ratio(r["inference_side_by_side"]),
        r["train_examples"],
        f"{r['run_seconds']:.0f}",
        f"`{r['command']}`, {r['date']}",
    ]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def time_ratio(timing: dict) -> str:
    """Teacher over student time per example; beside it the student's export: a causal student's GGUF in
    llama.cpp (the teacher's runtime), an encoder student's ONNX in ONNX Runtime."""
    runtimes = {"gguf": "GGUF in llama.cpp", "onnx": "ONNX in ONNX Runtime"}
    exported = "".join(
        f" ({name}: {timing[f'teacher_over_student_{form}']}x)"
        for form, name in runtimes.items()
        if f"teacher_over_student_{form}" in timing
    )
    return f"{timing['teacher_over_student']}x{exported}"


def readme_table(rows: dict, header: str) -> str:
    order = {name: i for i, name in enumerate(TASKS)}
    lines = [header, "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for key in sorted(
        rows,
        key=lambda k: (order[rows[k]["task"]], rows[k].get("unlabeled_texts", 0), rows[k]["spec_corrected_by_hand"], k),
    ):
        lines.append(table_line(rows[key]))
    return "\n".join(lines) + "\n"


def rows_for_task(name: str, task: dict, teacher: str, args) -> list[dict]:
    """The user's row; a labelled corrected-spec row where the parse missed the labels; and, with
    --unlabeled-rows, a row that also gets that many train texts with their labels dropped (never test texts)."""
    limit = args.limit if task["type"] == "classification" else args.text_limit
    test_rows = sampled_rows(task, "test", limit)
    rows = [run_row(name, task, teacher, test_rows, args)]
    if rows[0]["spec_parsed_correctly"] is False:
        rows.append(run_row(name, task, teacher, test_rows, args, corrected=True))
    if args.unlabeled_rows and task.get("train"):
        texts = [r["input"] for r in sampled_rows(task, "train", args.unlabeled_rows, seed=2)]
        rows.append(
            run_row(name, task, teacher, test_rows, args, corrected=rows[-1]["spec_corrected_by_hand"], unlabeled=texts)
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="test items per classification task (default: the whole test set)")
    parser.add_argument("--text-limit", type=int, default=300, help="test items per text task")
    parser.add_argument("--num-examples", type=int, help="synthetic examples per classification run (default: p2m's)")
    parser.add_argument("--text-num-examples", type=int, default=48, help="synthetic examples per text-task run")
    parser.add_argument("--timing-items", type=int, default=32, help="test inputs timed side by side")
    parser.add_argument(
        "--teachers",
        nargs="+",
        default=["auto", "smollm2-135m"],
        help="--teacher of each run: the default (auto: the strongest embedded preset), then SmolLM2 as the reference",
    )
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument(
        "--unlabeled-rows",
        type=int,
        default=0,
        help="also a row per classifier given this many of its train texts, labels dropped (--unlabeled)",
    )
    parser.add_argument("--work", default="/tmp/p2m_benchmarks", help="run dirs and test files")
    parser.add_argument("--no-readme", action="store_true", help="do not store the rows or write the README table")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"needs ../shared/data beside the checkout ({DATA})")
    command = " ".join(
        [
            "python benchmarks/run_all.py",
            *(["--limit", str(args.limit)] if args.limit else []),
            *(["--num-examples", str(args.num_examples)] if args.num_examples else []),
            *(["--unlabeled-rows", str(args.unlabeled_rows)] if args.unlabeled_rows else []),
            *(
                ["--text-limit", str(args.text_limit), "--text-num-examples", str(args.text_num_examples)]
                if any(TASKS[t]["type"] != "classification" for t in args.tasks)
                else []
            ),
            "--teachers",
            *args.teachers,
            "--tasks",
            *args.tasks,
        ]
    )
    started, results = time.perf_counter(), {}
    for teacher in args.teachers:
        for name in args.tasks:
            print(f"== {teacher} / {name}", flush=True)
            for row in rows_for_task(name, TASKS[name], teacher, args):
                row |= {"command": command, "date": date.today().isoformat()}
                variant = ("+corrected" if row["spec_corrected_by_hand"] else "") + (
                    f"+unlabeled{row['unlabeled_texts']}" if row["unlabeled_texts"] else ""
                )
                results[f"{teacher}/{name}{variant}/{row['n_test']}"] = row
                print(json.dumps(row), flush=True)
                if not args.no_readme:
                    store(results)
    out = {
        "tasks": results,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine(),
        "date": str(date.today()),
    }
    print(json.dumps(out))


def store(results: dict) -> None:
    """Keep every row measured so far (a row measured again is replaced) and write the README table."""
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    stored |= results
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(stored, indent=1) + "\n")
    header = (
        f"**Benchmark suite** ({machine()}; each row one `p2m run` from the task description, then `p2m eval` on the "
        "real test items; every column on the same items; means with bootstrap 95% CIs; run s = the seconds its stages "
        "took to make the student):"
    )
    write_readme_block(TABLE_START, TABLE_END, readme_table(stored, header))


if __name__ == "__main__":
    main()
