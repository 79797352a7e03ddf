"""The benchmark suite: does a p2m student beat its teacher on real test sets no one here wrote?

    python benchmarks/run_all.py              # the whole suite (README table; 48 min on 2 CPU cores, 2026-11-23)
    python benchmarks/run_all.py --limit 40 --tasks sst2 --no-readme   # a quick check

For each task, on the same real test items (a seeded sample of the test split in ../shared/data):
- teacher zero-shot: the embedded teacher answering each item (the run's few-shot examples, if any);
- p2m student: `p2m run` from the task description (plus at most 5 hand-written examples for tasks
  with no train split), then `p2m eval` on the test items;
- real-label upper bound: the same student trained on real train rows only (`--datasets FILE
  --num-examples 0`), where the task has a train split (SST-2, TREC, SNIPS);
- inference time: teacher and student side by side on the same test inputs (inference_cost.py).
Classification runs synthesize p2m's default 96 examples; text tasks 48 (their verification and a
causal student's training cost several times more per example), so the suite stays under an hour.
Gold labels are mapped to the run's label names in a copy of the sampled test rows in --work (never
in the repo). Prints one JSON object (last line) and writes the table into README.md (not with --no-readme).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from datetime import date
from pathlib import Path

import torch

from inference_cost import side_by_side
from p2m import Pipeline, RunConfig, TaskSpec
from p2m.device import best_device
from p2m.metrics import main_metric

ROOT = Path(__file__).resolve().parents[1]
TABLE_START, TABLE_END = "<!-- run_all: start -->", "<!-- run_all: end -->"
DATA = ROOT.parent / "shared" / "data"
TREC = {"ABBR": "abbreviation", "DESC": "description", "ENTY": "entity", "HUM": "human", "LOC": "location", "NUM": "number"}
SNIPS = {"AddToPlaylist": "add to playlist", "BookRestaurant": "book restaurant", "GetWeather": "get weather",
         "PlayMusic": "play music", "RateBook": "rate book", "SearchCreativeWork": "search creative work",
         "SearchScreeningEvent": "search screening event"}
TASKS = {
    "sst2": dict(task="Classify movie reviews as positive or negative", type="classification",  # the README main job, word for word
                 test="sst2/test.jsonl", train="sst2/train.jsonl", input="text", gold="label_text",
                 names={"positive": "positive", "negative": "negative"}),
    "trec_coarse": dict(task="Classify each question by the type of its answer: abbreviation, description, entity, human, location or number.",
                        type="classification", test="trec/test.jsonl", train="trec/train.jsonl", input="text", gold="label_coarse", names=TREC),
    "snips": dict(task="Classify the intent of a voice assistant request: " + ", ".join(SNIPS.values()) + ".",
                  type="classification", test="snips/test.jsonl", train="snips/train.jsonl", input="text", gold="label", names=SNIPS),
    "temporal": dict(task="Find the time expressions in a news sentence and resolve each to a date, relative to the posting date.",
                     type="generation", test="p2m_temporal/temporal.jsonl", input="input_col", gold="output_col", examples=[
                         {"input": "[Posted: 2014-05-02] The meeting took place on Tuesday.", "output": "Tuesday == 2014-04-29"},
                         {"input": "[Posted: 2011-08-15] Prices rose sharply in 2008.", "output": "2008 == 2008"},
                         {"input": "[Posted: 2016-01-10] The law changed last March.", "output": "last March == 2015-03"}]),
    "gsm8k": dict(task="Solve grade school math word problems; end with the final number.", type="math",
                  test="gsm8k/test.jsonl", input="question", gold="answer", examples=[
                      {"input": "Tom has 3 boxes of 4 apples and eats 2. How many apples are left?", "output": "3 * 4 = 12, 12 - 2 = 10. #### 10"},
                      {"input": "A book costs $7. How much do 5 books cost?", "output": "5 * 7 = 35. #### 35"}]),
    "squad": dict(task="Answer a question about a passage with a short span copied from the passage.", type="extraction",
                  test="p2m_squad_xquad_en/squad_v1.1_dev_xquad_subset.jsonl", input="input_col", gold="output_col", examples=[
                      {"input": "Context: The Nile flows north through Egypt into the Mediterranean Sea.\nQuestion: Where does the Nile flow into?",
                       "output": "the Mediterranean Sea"},
                      {"input": "Context: Marie Curie won the Nobel Prize in Physics in 1903.\nQuestion: When did Curie win the physics prize?",
                       "output": "1903"}]),
}


def sampled_rows(task: dict, split: str, n: int, seed: int = 0) -> list[dict]:
    """A seeded sample of a split as {input, output}, gold labels mapped to readable names."""
    rows = [json.loads(line) for line in (DATA / task[split]).read_text().splitlines() if line.strip()]
    rows = random.Random(seed).sample(rows, min(n, len(rows)))
    names = task.get("names") or {}
    return [{"input": r[task["input"]], "output": names.get(r[task["gold"]], r[task["gold"]])} for r in rows]


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def expected_spec(task: dict) -> TaskSpec | None:
    """The spec a careful reader takes from the description; used where the weak teacher's parse misses
    the labels (what a user fixes on the TUI's spec screen). None for text tasks: their parse stands."""
    if task["type"] != "classification":
        return None
    return TaskSpec(instruction=task["task"], task_type="classification", labels=list(task["names"].values()), input_description="text")


def side(result: dict, role: str) -> dict:
    scores = result[role]["metrics"]["all"]
    main = main_metric(scores)
    return {"metric": main, "value": scores[main], "ci95": scores[f"{main}_ci95"], "latency_ms": result[role]["latency_ms"]}


def trained_and_evaluated(config: RunConfig, spec: TaskSpec | None, test_file: Path) -> tuple[dict, dict, float, bool]:
    """Run (or resume) a p2m run, correcting a missed spec after parse, then evaluate on the test file.
    Returns (report, evaluation, seconds, whether the spec was corrected)."""
    started = time.perf_counter()
    Pipeline(config).run(until="parse")
    parsed = json.loads((config.run_dir() / "spec.json").read_text())
    corrected = spec is not None and (parsed["task_type"], parsed["labels"]) != (spec.task_type, spec.labels)
    if corrected:
        Pipeline(config).replace_spec(spec)
    report = Pipeline(config).run()
    evaluation = Pipeline.open(config.run_dir()).evaluate(test_file)
    return report, evaluation, time.perf_counter() - started, corrected


def run_task(name: str, task: dict, args) -> dict:
    work = Path(args.work) / name
    test_rows = sampled_rows(task, "test", args.limit)
    test_file = write_rows(work / "test.jsonl", test_rows)
    spec = expected_spec(task)
    num_examples = args.num_examples if task["type"] == "classification" else args.text_num_examples
    config = RunConfig(task=task["task"], examples=task.get("examples", []), out=str(work / "p2m"), num_examples=num_examples)
    report, evaluation, seconds, corrected = trained_and_evaluated(config, spec, test_file)
    timing = side_by_side(config.run_dir(), [r["input"] for r in test_rows[: args.timing_items]])
    ledger = report["ledger"]
    result = {
        "n_test": evaluation["n"],
        "parsed_labels_corrected": corrected,
        "teacher_zero_shot": side(evaluation, "teacher"),
        "p2m_student": side(evaluation, "student"),
        "student_minus_teacher": evaluation["student_minus_teacher"],
        "student_model": report["student"]["model"],
        "train_examples": report["data"]["train"],
        "wall_seconds": round(seconds, 1),
        "teacher_tokens": ledger["prompt_tokens"] + ledger["completion_tokens"],
        "teacher_calls": ledger["calls"],
        "synthetic_examples": num_examples,
        "teacher_over_student_seconds_recorded": evaluation["teacher_over_student_seconds"],
        "inference_side_by_side": timing,
        "leakage": evaluation["leakage"]["test_items_near_a_training_input"],
    }
    if task.get("train"):
        train_file = write_rows(work / "train.jsonl", sampled_rows(task, "train", args.train_rows))
        upper = RunConfig(task=task["task"], examples=task.get("examples", []), out=str(work / "upper_bound"), num_examples=0,
                          datasets=[str(train_file)], dataset_rows=args.train_rows, student=report["student"]["model"])
        _, upper_eval, upper_seconds, _ = trained_and_evaluated(upper, spec, test_file)
        result["real_label_upper_bound"] = {**side(upper_eval, "student"), "wall_seconds": round(upper_seconds, 1)}
    return result


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, {best_device()}"


def write_readme_block(start_marker: str, end_marker: str, block: str) -> None:
    """Replace what README.md holds between the two markers."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = text.index(start_marker) + len(start_marker), text.index(end_marker)
    readme.write_text(text[:start] + "\n" + block + text[end:])


def readme_table(results: dict, header: str) -> str:
    lines = [header, "", "| task | metric | teacher zero-shot | p2m student | real-label upper bound | student - teacher [95% CI] "
             "| train ex. | teacher tokens | wall s | teacher/student time per example |", "|---|---|---|---|---|---|---|---|---|---|"]
    def cell(s: dict) -> str:
        return f"{s['value']:.3f} [{s['ci95'][0]:.2f}, {s['ci95'][1]:.2f}]"

    for name, r in results.items():
        upper = r.get("real_label_upper_bound")
        diff = r["student_minus_teacher"]
        lines.append(f"| {name} | {r['p2m_student']['metric']} | {cell(r['teacher_zero_shot'])} | {cell(r['p2m_student'])} | "
                     f"{cell(upper) if upper else 'n/a (no train split)'} | {diff['mean']:+.3f} [{diff['ci95'][0]:+.2f}, {diff['ci95'][1]:+.2f}] | "
                     f"{r['train_examples']} | {r['teacher_tokens']} | {r['wall_seconds']:.0f} | {r['inference_side_by_side']['teacher_over_student']}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=100, help="test items per task")
    parser.add_argument("--num-examples", type=int, default=96, help="synthetic examples per classification run")
    parser.add_argument("--text-num-examples", type=int, default=48, help="synthetic examples per text-task run")
    parser.add_argument("--timing-items", type=int, default=32, help="test inputs timed side by side")
    parser.add_argument("--train-rows", type=int, default=500, help="real train rows for the upper bound")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--work", default="/tmp/p2m_benchmarks", help="run dirs and sampled test files")
    parser.add_argument("--no-readme", action="store_true", help="do not write the table into README.md")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"needs ../shared/data beside the checkout ({DATA})")
    started = time.perf_counter()
    results = {}
    for name in args.tasks.split(","):
        print(f"== {name}", flush=True)
        results[name] = run_task(name, TASKS[name], args)
        print(json.dumps({name: results[name]}), flush=True)
    seconds = round(time.perf_counter() - started, 1)
    if not args.no_readme:
        header = (f"**Benchmark suite** (`python benchmarks/run_all.py --limit {args.limit} --num-examples {args.num_examples} "
                  f"--text-num-examples {args.text_num_examples}`; {date.today()}, {machine()}; {seconds / 60:.0f} min in all; "
                  f"embedded teacher; metric means with bootstrap 95% CIs on the same {args.limit} sampled real test items per task; "
                  f"time per example: teacher and student batched, side by side on {args.timing_items} of them):")
        write_readme_block(TABLE_START, TABLE_END, readme_table(results, header))
    print(json.dumps({"tasks": results, "seconds": seconds, "machine": machine(), "date": str(date.today())}))


if __name__ == "__main__":
    main()
