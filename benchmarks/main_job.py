"""The README's main job as a user runs it, then its student and teacher on the real SST-2 test set.

    python benchmarks/main_job.py                       # cold: fresh cache and run dir; README table
    python benchmarks/main_job.py --limit 200 --no-readme
    python benchmarks/main_job.py --out RUN --cache DIR # an existing run and cache: its recorded stage times

`p2m run "<task>" --yes` (the README command, embedded defaults), then `p2m eval RUN --test
../shared/data/sst2/test.jsonl` with both teacher readings, the baselines and retention. Stage times
come from the run's stages.json, i.e. from the invocation that did the work (a re-run of a finished
run skips every stage); teacher calls from its ledger. Prints one JSON object (last line) and writes
the README table between the main_job markers (not with --no-readme).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import DATA, machine, run_teacher_calls, write_readme_block

from p2m.metrics import strongest_zero_shot

TASK = "Classify movie reviews as positive or negative"
TABLE_START, TABLE_END = "<!-- main_job: start -->", "<!-- main_job: end -->"


def p2m(args: list[str], cache: Path) -> str:
    """Run the p2m CLI as a user would; its stdout (stderr shown on failure)."""
    done = subprocess.run(
        [sys.executable, "-m", "p2m", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "P2M_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")},
    )
    if done.returncode:
        sys.exit(f"p2m {args[0]} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def measure(out: Path, cache: Path, limit: int | None) -> dict:
    started = time.perf_counter()
    p2m(["run", TASK, "--yes", "--quiet", "--out", str(out)], cache)
    invocation = time.perf_counter() - started
    test = ["--test", str(DATA / "sst2" / "test.jsonl"), "--input-field", "text", "--label-field", "label_text"]
    evaluation = json.loads(
        p2m(["eval", str(out), *test, *(["--limit", str(limit)] if limit else []), "--json"], cache)
    )
    stages = json.loads((out / "stages.json").read_text())
    return {
        "stage_seconds": {name: state["seconds"] for name, state in stages.items()},
        "run_seconds": round(sum(state["seconds"] for state in stages.values()), 1),
        "this_invocation_seconds": round(invocation, 1),
        "run_teacher_calls": run_teacher_calls(out),
        "student": evaluation["student"]["model"],
        "n": evaluation["n"],
        "teacher": {name: scores["accuracy"] for name, scores in evaluation["teacher"]["readings"].items()},
        "teacher_ci95": {name: scores["accuracy_ci95"] for name, scores in evaluation["teacher"]["readings"].items()},
        "student_accuracy": evaluation["student"]["metrics"]["all"]["accuracy"],
        "student_ci95": evaluation["student"]["metrics"]["all"]["accuracy_ci95"],
        "baselines": {name: scores["accuracy"] for name, scores in evaluation["baselines"].items()},
        "retention": evaluation["retention"],
        "student_minus_zero_shot": evaluation["student_minus_baseline"][strongest_zero_shot(evaluation)],
        "teacher_over_student_seconds": evaluation["teacher_over_student_seconds"],
        "leakage": evaluation["leakage"]["test_items_near_a_training_input"],
    }


def readme_table(r: dict, header: str) -> str:
    ci = lambda pair: f"[{pair[0]:.3f}, {pair[1]:.3f}]"  # noqa: E731
    stages = ", ".join(f"{name} {seconds:.0f}" for name, seconds in r["stage_seconds"].items())
    return (
        "\n".join(
            [
                header,
                "",
                "| run time (s) | teacher calls | SST-2 test n | teacher greedy | teacher likelihood | student | MiniLM zero-shot: names / described | majority | retention | student - zero-shot | teacher/student time | leakage |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|",
                f"| {r['run_seconds']:.0f} ({stages}) | {r['run_teacher_calls']} | {r['n']} | "
                f"{r['teacher']['greedy']:.3f} {ci(r['teacher_ci95']['greedy'])} | "
                + (
                    f"{r['teacher']['likelihood']:.3f} {ci(r['teacher_ci95']['likelihood'])}"
                    if "likelihood" in r["teacher"]
                    else "-"
                )
                + f" | {r['student_accuracy']:.3f} {ci(r['student_ci95'])} ({r['student'].split('/')[-1]}) | {r['baselines']['minilm_zero_shot']:.3f} / "
                + (
                    f"{r['baselines']['minilm_zero_shot_described']:.3f}"
                    if "minilm_zero_shot_described" in r["baselines"]
                    else "-"
                )
                + " | "
                f"{r['baselines']['majority']:.3f} | {r['retention']['mean']:.3f} {ci(r['retention']['ci95'])} | "
                f"{r['student_minus_zero_shot']['mean']:+.3f} {ci(r['student_minus_zero_shot']['ci95'])} | {r['teacher_over_student_seconds']:.1f}x | {r['leakage']} |",
            ]
        )
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="run directory (default: a fresh temporary one)")
    parser.add_argument(
        "--cache", type=Path, help="P2M_CACHE_DIR (default: a fresh temporary one, so every call is live)"
    )
    parser.add_argument("--limit", type=int, help="SST-2 test rows (default: all 1821)")
    parser.add_argument("--no-readme", action="store_true", help="do not write the table into README.md")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="p2m-main-job-"))
    result = measure(args.out or scratch / "run", args.cache or scratch / "cache", args.limit)
    command = " ".join(
        [
            "python benchmarks/main_job.py",
            *(["--limit", str(args.limit)] if args.limit else []),
            *(["--out", str(args.out)] if args.out else []),
            *(["--cache", str(args.cache)] if args.cache else []),
        ]
    )
    out = {"machine": machine(), "date": date.today().isoformat(), "command": command, **result}
    if not args.no_readme:
        write_readme_block(
            TABLE_START,
            TABLE_END,
            readme_table(
                result,
                f'`{command}`, {out["date"]}, {out["machine"]}; `p2m run "{TASK}" --yes`, then `p2m eval` on real SST-2 test '
                "rows; run time = the seconds each stage took in the invocation that did its work (stages.json).",
            ),
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
