"""Distillation methods side by side: which `--method` makes the better student, on real test data?

    python benchmarks/distill_methods.py   # SST-2 and Temporal, every method
    python benchmarks/distill_methods.py --limit 20 --num-examples 16 --tasks sst2 --no-readme   # a quick check

With the embedded teacher, one p2m run per task from its description (synthetic data, verified), then
each method trains the student on that same data and is scored on the same sampled real test items
(../shared/data; gold labels are read only to score):
- SST-2, MiniLM classifier: `sft` (the verifiers' hard labels) vs `soft-kd` (the teacher's label distribution);
- Temporal (date resolution, chrF++), SmolLM2-135M: `sft` vs `logit-kd`, `context` and `wmss`.
Training samples/s is reported for each, and `sft_over_plain_trl`: p2m's sft path against a plain TRL
`SFTTrainer` of the same config, run alternately (benchmarks/train_throughput.py). Prints one JSON object
(last line) and writes the table into README.md (not with --no-readme).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

from common import DATA, TASKS, machine, sampled_rows, side, trained_and_evaluated, write_readme_block, write_rows

from p2m import RunConfig

TABLE_START, TABLE_END = "<!-- distill_methods: start -->", "<!-- distill_methods: end -->"
METHODS = {"sst2": ("sft", "soft-kd"), "temporal": ("sft", "logit-kd", "context", "wmss")}


def compare(name: str, args) -> dict:
    """One run's data, each method's student on the same test items."""
    task = TASKS[name]
    work = Path(args.work) / name
    test_file = write_rows(work / "test.jsonl", sampled_rows(task, "test", args.limit))
    result: dict = {"methods": {}}
    for method in METHODS[name]:
        config = RunConfig(
            task=task["task"],
            examples=task.get("examples", []),
            out=str(work / "run"),
            num_examples=args.num_examples,
            method=method,
        )
        report, evaluation, seconds, _ = trained_and_evaluated(config, task, test_file)
        training = report["training"]
        result["methods"][method] = {
            **side(evaluation, "student"),
            "samples_per_s": training.get("samples_per_s"),  # none for a head-only classifier
            "train_seconds": training["seconds"],
            "steps": training.get("steps"),
            "wall_seconds": round(seconds, 1),
        }
        result |= {
            "teacher_zero_shot": side(evaluation, "teacher"),
            "n_test": evaluation["n"],
            "train_examples": report["data"]["train"],
            "student_model": report["student"]["model"],
        }
        print(json.dumps({name: {method: result["methods"][method]}}), flush=True)
    return result


def sft_over_plain(rows: int) -> dict:
    """p2m's sft path vs plain TRL SFTTrainer, same config, alternating runs (train_throughput.py)."""
    import subprocess
    import sys

    script = Path(__file__).with_name("train_throughput.py")
    out = subprocess.run(
        [sys.executable, str(script), "--limit", str(rows), "--methods", "sft,plain_trl_sft"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    last = json.loads(out.strip().splitlines()[-1])
    return {
        "sft_over_plain_trl": last["sft_over_plain"],
        "rows": rows,
        "repeats": last["repeats"],
        "samples_per_s": {m: last["methods"][m]["samples_per_s"] for m in ("sft", "plain_trl_sft")},
    }


def readme_table(results: dict, header: str) -> str:
    lines = [
        header,
        "",
        "| task | student | method | metric | student [95% CI] | teacher zero-shot | train samples/s | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["tasks"].items():
        teacher = r["teacher_zero_shot"]
        for method, m in r["methods"].items():
            lines.append(
                f"| {name} | {r['student_model'].split('/')[-1]} | {method} | {m['metric']} | {m['value']:.3f} [{m['ci95'][0]:.2f}, "
                f"{m['ci95'][1]:.2f}] | {teacher['value']:.3f} | {m['samples_per_s']} | {m['train_seconds']:.0f} |"
            )
    ratio = results["throughput"]
    lines += [
        "",
        f"sft path vs plain TRL `SFTTrainer`, same config, {ratio['rows']} rows, median of {ratio['repeats']} alternating runs: "
        f"{ratio['samples_per_s']['sft']} vs {ratio['samples_per_s']['plain_trl_sft']} samples/s, ratio **{ratio['sft_over_plain_trl']}**.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=100, help="real test items per task")
    parser.add_argument("--num-examples", type=int, default=48, help="synthetic examples per task's run")
    parser.add_argument("--tasks", default=",".join(METHODS))
    parser.add_argument("--throughput-rows", type=int, default=32, help="rows for the sft vs plain TRL throughput pair")
    parser.add_argument("--work", default="/tmp/p2m_distill_methods", help="run dirs and sampled test files")
    parser.add_argument("--no-readme", action="store_true", help="do not write the table into README.md")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"needs ../shared/data beside the checkout ({DATA})")
    started = time.perf_counter()
    results = {
        "tasks": {name: compare(name, args) for name in args.tasks.split(",")},
        "throughput": sft_over_plain(args.throughput_rows),
    }
    results |= {"seconds": round(time.perf_counter() - started, 1), "date": str(date.today()), "machine": machine()}
    if not args.no_readme:
        header = (
            f"**Distillation methods** (`python benchmarks/distill_methods.py --limit {args.limit} --num-examples {args.num_examples}`; "
            f"{results['date']}, {results['machine']}; {results['seconds'] / 60:.0f} min; embedded teacher; the same verified "
            f"synthetic data for every method of a task, scored on {args.limit} sampled real test items):"
        )
        write_readme_block(TABLE_START, TABLE_END, readme_table(results, header))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
