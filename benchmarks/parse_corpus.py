"""How well the parse stage reads task descriptions: task type and label set on the corpus in
tests/data/parse_corpus.jsonl (varied ways people name their labels, written for p2m).

    python benchmarks/parse_corpus.py [--teacher qwen2.5-coder-1.5b] [--limit N]

Three readings of each description: the text alone (`heuristic_spec`), the teacher alone (its
validated JSON spec), and what the parse stage uses (both merged, the text's explicit fields winning).
A reading is right when its task type and its label set (case-insensitive) equal the expected ones.
Teacher calls go through p2m's cache. Prints one JSON object (last line) and writes the README table
between its markers (not with --no-readme).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

from common import machine, write_readme_block

from p2m import RunConfig
from p2m.stages.parse import ask_teacher_for_spec, parse_task
from p2m.task_text import heuristic_spec
from p2m.teacher.choice import build_teacher

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "parse_corpus.jsonl"
TABLE_START, TABLE_END = "<!-- parse_corpus: start -->", "<!-- parse_corpus: end -->"


def right(spec: dict | None, case: dict) -> bool:
    labels = sorted(str(label).strip().lower() for label in (spec or {}).get("labels") or [])
    return (
        bool(spec)
        and spec.get("task_type") == case["task_type"]
        and labels == sorted(l.lower() for l in case["labels"])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--teacher", default="auto", help="as p2m run's --teacher (default: the strongest embedded preset)"
    )
    parser.add_argument("--limit", type=int, help="only the first N descriptions")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    cases = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()][: args.limit]
    teacher = build_teacher(RunConfig(task="x", teacher=args.teacher))
    counts, wrong, seconds = (
        {"text": 0, "teacher": 0, "parse stage": 0},
        {"text": [], "teacher": [], "parse stage": []},
        [],
    )
    for case in cases:
        started = time.perf_counter()
        readings = {
            "text": heuristic_spec(case["task"]),
            "teacher": ask_teacher_for_spec(teacher, case["task"])[0],
            "parse stage": parse_task(teacher, case["task"])[0].to_dict(),
        }
        seconds.append(time.perf_counter() - started)
        for name, spec in readings.items():
            counts[name] += right(spec, case)
            if not right(spec, case):
                wrong[name].append(case["task"][:60])
    n = len(cases)
    out = {
        "date": date.today().isoformat(),
        "machine": machine(),
        "teacher": teacher.identity,
        "n": n,
        "accuracy": {k: round(v / n, 3) for k, v in counts.items()},
        "wrong": wrong,
        "seconds_per_parse": {"mean": round(sum(seconds) / n, 1), "max": round(max(seconds), 1)},
        "live_teacher_calls": teacher.ledger.calls,
        "cache_hits": teacher.ledger.cache_hits,
    }
    if not args.no_readme:
        command = "python benchmarks/parse_corpus.py" + (f" --teacher {args.teacher}" if args.teacher != "auto" else "")
        lines = [
            f"`{command}`, {out['date']}, {out['machine']}; teacher `{teacher.identity}`; {n} descriptions; "
            f"{out['seconds_per_parse']['mean']} s per description for all three readings (max {out['seconds_per_parse']['max']}; "
            f"{teacher.ledger.calls} live teacher calls, {teacher.ledger.cache_hits} from p2m's cache).",
            "",
            "| reading | right task type and label set |",
            "|---|---|",
        ]
        lines += [f"| {name} | {counts[name]} / {n} ({counts[name] / n:.0%}) |" for name in counts]
        write_readme_block(TABLE_START, TABLE_END, "\n".join(lines) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
