"""Recipe ablation: what each way of fitting the classification student gives, on the same data.

    python benchmarks/run_all.py --teachers auto --tasks trec_coarse snips sst2   # first: the runs
    python benchmarks/recipe.py --tasks trec_coarse snips sst2                     # then: their variants

For each task, the verified synthetic data of the suite's run (benchmarks/run_all.py, in --work) is
trained on again with each variant below (a copy of the run dir: parse to synthesize are reused; verify
runs again, from cached teacher answers, only where a variant changes its options), and every student is evaluated on the same real test items as
the suite row; teacher answers come from the cache. The generation variants write their data afresh
(the same parsed task, without one piece of the generation recipe; the suite run's student), so they
differ from the default by one synthesis draw as well. Beside each: MiniLM zero-shot (p2m eval's
baseline) and the teacher's best reading on those items, so each piece shows what it adds.
Prints one JSON object (last line) and writes the README table between the recipe markers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import date
from pathlib import Path

from common import TASKS, cell, interval, machine, sampled_rows, scored, side, write_readme_block, write_rows

from p2m import Pipeline, RunConfig, run_paths
from p2m.files import read_json
from p2m.metrics import strongest_zero_shot
from p2m.spec import TaskSpec

RESULTS = Path(__file__).parent / "results" / "recipe.json"
START, END = "<!-- recipe: start -->", "<!-- recipe: end -->"
NO_PROTOTYPES = {"label_prototypes": 0, "weight_ensemble": 1.0}


def wise_ft(share: float) -> dict[str, dict]:
    """The WiSE-FT variant at this share, named '(default)' when it is RunConfig's default share."""
    default = " (default)" if share == RunConfig.weight_ensemble else ""
    return {
        f"LP-FT, prototypes, then WiSE-FT: {share} of the trained weights, {1 - share} of the base zero-shot classifier's{default}": {
            "classifier_tuning": "full",
            "label_prior": "none",
            "label_prototypes": 1.0,
            "weight_ensemble": share,
        }
    }


VARIANTS = {  # name -> RunConfig options of the Verify and Train stages
    "head only, label-name prior": {"classifier_tuning": "head", "label_prior": "names", **NO_PROTOTYPES},
    "head only, no prior (plain probe)": {"classifier_tuning": "head", "label_prior": "none", **NO_PROTOTYPES},
    "label-name prior head, then full fine-tuning": {
        "classifier_tuning": "full",
        "label_prior": "names",
        **NO_PROTOTYPES,
    },
    "plain probe, then full fine-tuning (LP-FT)": {"classifier_tuning": "full", "label_prior": "none", **NO_PROTOTYPES},
    "LP-FT, without label fidelity": {
        "classifier_tuning": "full",
        "label_prior": "none",
        "label_fidelity": False,
        **NO_PROTOTYPES,
    },
    "LP-FT, soft targets from the teacher (soft-kd)": {
        "classifier_tuning": "full",
        "label_prior": "none",
        "method": "soft-kd",
        **NO_PROTOTYPES,
    },
    "LP-FT, without near-duplicate removal": {
        "classifier_tuning": "full",
        "label_prior": "none",
        "dedup": False,
        **NO_PROTOTYPES,
    },
    "LP-FT, then the label names' prototypes added to the head": {
        "classifier_tuning": "full",
        "label_prior": "none",
        "label_prototypes": 1.0,
        "weight_ensemble": 1.0,
    },
    **wise_ft(0.5),
    **wise_ft(0.75),
}
GENERATION_VARIANTS = {  # name -> (RunConfig options, spec fields replaced); LP-FT on data written afresh
    "LP-FT, no label descriptions (data written afresh; verifiers and teacher without them too)": (
        NO_PROTOTYPES,
        {"label_descriptions": {}},
    ),
    "LP-FT, no subjects: inputs written from the label alone (data written afresh)": (
        {"subjects_per_label": 0, **NO_PROTOTYPES},
        {},
    ),
    "LP-FT, no styles: every input asked for without a writing style (data written afresh)": (
        {"styles": False, **NO_PROTOTYPES},
        {},
    ),
}
REUSED = ("config.json", "spec.json", "student.json", "datasets.json", "data", "stages.json")  # what train reads


def variant_run(run_dir: Path, target: Path, options: dict, spec_fields: dict | None = None) -> RunConfig:
    """A copy of run_dir's inputs to training, with the variant's options; stages up to verify stay done.
    With `spec_fields`, the copy's spec is replaced by one with those fields (stages after parse run
    again). A copy made from an earlier run of the suite (its stages.json then differed) is made again."""
    source_stages = (run_dir / run_paths.STAGES).read_text()
    copied_from = target / "source_stages.json"
    if target.exists() and (not copied_from.exists() or copied_from.read_text() != source_stages):
        shutil.rmtree(target)
    config = RunConfig(**{**read_json(run_dir / run_paths.CONFIG), "out": str(target), **options})
    if not target.exists():
        target.mkdir(parents=True)
        copied_from.write_text(source_stages)
        for name in REUSED:
            source = run_dir / name
            if source.is_dir():
                shutil.copytree(source, target / name)
            elif source.exists():
                shutil.copy(source, target / name)
        if spec_fields:
            Pipeline(config).replace_spec(TaskSpec.from_dict({**read_json(run_dir / run_paths.SPEC), **spec_fields}))
    return config


def variants(run_dir: Path) -> dict[str, tuple[dict, dict]]:
    """Every variant as (options, spec fields); the generation variants keep the suite run's student."""
    student = read_json(run_dir / run_paths.STUDENT)["chosen"]["id"]
    return {name: (options, {}) for name, options in VARIANTS.items()} | {
        name: ({**options, "student": student}, fields) for name, (options, fields) in GENERATION_VARIANTS.items()
    }


def measure_task(name: str, args, command: str) -> dict:
    task = TASKS[name]
    run_dir = Path(args.work) / args.teacher / name / "p2m"
    if not (run_dir / run_paths.MODEL_META).exists():
        raise SystemExit(
            f"{run_dir} has no finished run: python benchmarks/run_all.py --teachers {args.teacher} --tasks {name}"
        )
    test_rows = sampled_rows(task, "test", args.limit)
    test_file = write_rows(Path(args.work) / args.teacher / name / "recipe" / "test.jsonl", test_rows)
    out = {"task": name, "teacher_run": args.teacher, "n_test": len(test_rows), "variants": {}}
    for variant, (options, spec_fields) in variants(run_dir).items():
        if args.variants != "all" and (variant in GENERATION_VARIANTS) != (args.variants == "generation"):
            continue
        if args.match and args.match not in variant:
            continue
        slug = "-".join(f"{key}={value}" for key, value in {**options, **spec_fields}.items()).replace("/", "_")
        config = variant_run(run_dir, Path(args.work) / args.teacher / name / "recipe" / slug, options, spec_fields)
        started = time.perf_counter()
        report = Pipeline(config).run()
        evaluation = Pipeline.open(config.run_dir()).evaluate(test_file)
        zero_shot = strongest_zero_shot(evaluation)
        out["zero_shot"], out["teacher"] = (
            scored(evaluation, zero_shot),
            scored(evaluation, evaluation["teacher"]["reading"]),
        )
        out["variants"][variant] = {
            "student": side(evaluation, "student"),
            "retention": evaluation["retention"],
            "minus_zero_shot": (evaluation.get("student_minus_baseline") or {}).get(zero_shot),
            "train_seconds": report["training"]["seconds"],
            "seconds": round(time.perf_counter() - started, 1),
            "command": command,
            "date": str(date.today()),
        }
        print(json.dumps({name: {variant: out["variants"][variant]}}), flush=True)
    return out


def merged(old: dict | None, new: dict) -> dict:
    """A task's stored variants with the new ones over them, less those no longer defined; each keeps the
    command that measured it."""
    defined = VARIANTS.keys() | GENERATION_VARIANTS.keys()
    kept = (
        {
            name: {"command": old["command"], "date": old["date"], **v}
            for name, v in old["variants"].items()
            if name in defined
        }
        if old
        else {}
    )
    return {**new, "variants": kept | new["variants"]}


def readme_block(results: dict) -> str:
    lines = [
        f"**Recipe ablation** ({machine()}; the suite's verified data per task, each variant trained on it (the "
        "variants marked 'data written afresh' synthesize and verify their own) and evaluated on the suite's real "
        "test items; means with bootstrap 95% CIs):",
        "",
        "| task (n) | variant | student | retention | student - MiniLM zero-shot | train s | measured by |",
        "|---|---|---|---|---|---|---|",
    ]
    for task in results.values():
        by = f"`{task['command']}`, {task['date']}"
        label = task["task"] + ("" if task.get("teacher_run", "auto") == "auto" else f", {task['teacher_run']} teacher")
        for variant, v in task["variants"].items():
            lines.append(
                f"| {label} ({task['n_test']}) | {variant} | {cell(v['student'])} | {interval(v['retention'], signed=False)} | "
                f"{interval(v['minus_zero_shot'])} | {v['train_seconds']:.0f} | `{v['command']}`, {v['date']} |"
            )
        lines.append(
            f"| {label} ({task['n_test']}) | *MiniLM zero-shot; teacher's best reading* | {cell(task['zero_shot'])}; "
            f"{cell(task['teacher'])} | | | | {by} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=["trec_coarse", "snips", "sst2"],
        choices=[t for t, v in TASKS.items() if v["type"] == "classification"],
    )
    parser.add_argument("--teacher", default="auto", help="the suite's --teachers entry whose runs to reuse")
    parser.add_argument("--limit", type=int, help="test items per task (default: the whole test set, as the suite)")
    parser.add_argument("--work", default="/tmp/p2m_benchmarks", help="the suite's --work")
    parser.add_argument(
        "--variants",
        default="all",
        choices=["all", "training", "generation"],
        help="training: the variants on the suite's data; generation: those that write data afresh",
    )
    parser.add_argument("--match", help="only the variants whose name contains this text")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    command = " ".join(
        [
            "python benchmarks/recipe.py",
            "--tasks",
            *args.tasks,
            *(["--teacher", args.teacher] if args.teacher != "auto" else []),
            *(["--limit", str(args.limit)] if args.limit else []),
            *(["--variants", args.variants] if args.variants != "all" else []),
            *(["--match", repr(args.match)] if args.match else []),
        ]
    )
    results = {
        name: {**measure_task(name, args, command), "command": command, "date": str(date.today())}
        for name in args.tasks
    }
    if not args.no_readme:
        stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        key = {
            name: name if args.teacher == "auto" else f"{args.teacher}/{name}" for name in results
        }  # another teacher's rows apart from the default's
        stored |= {key[name]: merged(stored.get(key[name]), task) for name, task in results.items()}
        RESULTS.write_text(json.dumps(stored, indent=1) + "\n")
        write_readme_block(START, END, readme_block(stored))
    print(json.dumps({"tasks": results, "machine": machine(), "date": str(date.today())}))


if __name__ == "__main__":
    main()
