"""Each embedded teacher preset's zero-shot accuracy on real test sets, read two ways.

    python benchmarks/teacher_zero_shot.py                     # full SST-2, TREC-coarse, SNIPS tests; README table
    python benchmarks/teacher_zero_shot.py --limit 100 --presets smollm2-135m --no-readme

- greedy: the teacher's chat answer to p2m's classification prompt (the request verify and evaluate
  make), parsed into a label; an answer naming no label counts as wrong;
- likelihood: the teacher's likelihood of each whole label after the input, calibrated against its
  label prior (the verify stage's teacher verifier), argmax.
Bare label names, no examples, no training. SST-2's task text is the README main job's, so its greedy
reading is the very request `p2m eval` makes for that run's teacher (and shares its cache). The same items for both readings and every preset (a
seeded shuffle of the test set, its first --limit rows). Teacher calls go through p2m's cached layer
(P2M_CACHE_DIR), so a re-run costs nothing. Prints one JSON object (last line); keeps every row in
benchmarks/results/teacher_zero_shot.json and writes the README table from it (not with --no-readme).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

from common import TASKS, machine, sampled_rows, write_readme_block

from p2m import RunConfig
from p2m.metrics import accuracy_items, bootstrap_ci
from p2m.spec import TaskSpec
from p2m.teacher.answers import label_requests, softmax_rows, teacher_requests
from p2m.teacher.choice import build_teacher
from p2m.teacher.files import STRONGEST_FIRST, preset_installed
from p2m.verifiers.signals import calibrate, label_from_reply

TABLE_START, TABLE_END = "<!-- teacher_zero_shot: start -->", "<!-- teacher_zero_shot: end -->"
CLASSIFIERS = ("sst2", "trec_coarse", "snips")
READINGS = ("greedy", "likelihood")
RESULTS = (
    Path(__file__).parent / "results" / "teacher_zero_shot.json"
)  # every row measured so far, for the README table


def read_labels(teacher, spec: TaskSpec, texts: list[str], reading: str) -> list[str]:
    """The teacher's label for each text: its greedy answer parsed ("" if it names no label), or the
    argmax of its calibrated label likelihoods."""
    if reading == "greedy":
        replies = teacher.chat([teacher_requests(spec, text, votes=0)[0] for text in texts])
        return [label_from_reply(reply.text, spec.labels) or "" for reply in replies]
    likelihoods = calibrate(softmax_rows(teacher.score(label_requests(spec, texts)), spec.labels))
    return [max(p, key=p.get) for p in likelihoods]


def measure(preset: str, task_name: str, limit: int | None, readings: list[str]) -> dict:
    task = TASKS[task_name]
    rows = sampled_rows(task, "test", limit or 10**9)
    spec = TaskSpec(instruction=task["task"], task_type="classification", labels=list(task["names"].values()))
    teacher = build_teacher(RunConfig(task=task["task"], teacher=preset))
    started = time.perf_counter()
    read = {reading: read_labels(teacher, spec, [r["input"] for r in rows], reading) for reading in readings}
    golds = [r["output"] for r in rows]
    result = {"n": len(rows), "seconds": round(time.perf_counter() - started, 1), "live_calls": teacher.ledger.calls}
    for name, predictions in read.items():
        items = accuracy_items(predictions, golds)
        low, high = bootstrap_ci(items)
        result[name] = {
            "accuracy": round(sum(items) / len(items), 4),
            "ci95": [round(low, 3), round(high, 3)],
            "unparsed": predictions.count(""),
        }
    return result


def readme_table(rows: dict, header: str) -> str:
    lines = [
        header,
        "",
        "| teacher | task | n | greedy answer [95% CI] | calibrated likelihood [95% CI] | unparsed answers | measured by |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in sorted(
        rows, key=lambda k: (STRONGEST_FIRST.index(k.split("/")[0]), CLASSIFIERS.index(k.split("/")[1]), -rows[k]["n"])
    ):
        r = rows[key]
        cells = [
            f"{r[k]['accuracy']:.3f} [{r[k]['ci95'][0]:.2f}, {r[k]['ci95'][1]:.2f}]" if k in r else "not measured"
            for k in ("greedy", "likelihood")
        ]
        unparsed = r["greedy"]["unparsed"] if "greedy" in r else "-"
        lines.append(
            f"| {key.split('/')[0]} | {key.split('/')[1]} | {r['n']} | {cells[0]} | {cells[1]} | {unparsed} | "
            f"`{r['command']}`, {r['date']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="items per task (default: the whole test set)")
    parser.add_argument(
        "--presets", nargs="+", default=[p for p in STRONGEST_FIRST if preset_installed(p)], choices=STRONGEST_FIRST
    )
    parser.add_argument("--tasks", nargs="+", default=list(CLASSIFIERS), choices=CLASSIFIERS)
    parser.add_argument("--readings", nargs="+", default=list(READINGS), choices=READINGS)
    parser.add_argument("--no-readme", action="store_true", help="do not write the table into README.md")
    args = parser.parse_args()
    started = time.perf_counter()
    command = " ".join(
        [
            "python benchmarks/teacher_zero_shot.py",
            *(["--limit", str(args.limit)] if args.limit else []),
            "--presets",
            *args.presets,
            "--tasks",
            *args.tasks,
            "--readings",
            *args.readings,
        ]
    )
    results = {}
    for preset in args.presets:
        for task in args.tasks:
            row = {
                **measure(preset, task, args.limit, args.readings),
                "command": command,
                "date": date.today().isoformat(),
            }
            results[f"{preset}/{task}/{row['n']}"] = row
    out = {"machine": machine(), "results": results, "seconds": round(time.perf_counter() - started, 1)}
    if (
        not args.no_readme
    ):  # rows of earlier runs (other presets, tasks or sizes) stay; a row measured again is replaced
        stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        stored = {**stored, **results}  # keyed preset/task/n
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(stored, indent=1) + "\n")
        write_readme_block(
            TABLE_START,
            TABLE_END,
            readme_table(
                stored, f"{out['machine']}; bare label names, no examples; the same items for both readings of a row."
            ),
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
