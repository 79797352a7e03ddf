"""What the benchmarks share: the suite's tasks and where their real data lies, sampling, running a
p2m run and evaluating it, reading an evaluation's cells, and writing the README's tables."""

from __future__ import annotations

import json
import os
import platform
import random
import time
from pathlib import Path

import torch

from p2m import Pipeline, RunConfig, TaskSpec, run_paths
from p2m.device import best_device
from p2m.metrics import main_metric

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"  # the real evaluation data, beside the checkout (never copied into it)
TREC = {
    "ABBR": "abbreviation",
    "DESC": "description",
    "ENTY": "entity",
    "HUM": "human",
    "LOC": "location",
    "NUM": "number",
}
SNIPS = {
    "AddToPlaylist": "add to playlist",
    "BookRestaurant": "book restaurant",
    "GetWeather": "get weather",
    "PlayMusic": "play music",
    "RateBook": "rate book",
    "SearchCreativeWork": "search creative work",
    "SearchScreeningEvent": "search screening event",
}
TASKS = {
    "sst2": dict(
        task="Classify movie reviews as positive or negative",
        type="classification",  # the README main job, word for word
        test="sst2/test.jsonl",
        train="sst2/train.jsonl",
        input="text",
        gold="label_text",
        names={"positive": "positive", "negative": "negative"},
    ),
    "trec_coarse": dict(
        task="Classify each question by the type of its answer: abbreviation, description, entity, human, location or number.",
        type="classification",
        test="trec/test.jsonl",
        train="trec/train.jsonl",
        input="text",
        gold="label_coarse",
        names=TREC,
    ),
    "snips": dict(
        task="Classify the intent of a voice assistant request: " + ", ".join(SNIPS.values()) + ".",
        type="classification",
        test="snips/test.jsonl",
        train="snips/train.jsonl",
        input="text",
        gold="label",
        names=SNIPS,
    ),
    # The dataset's own rules, as Prompt2Model's instruction for it states them: dates as YYYY-MM-DD,
    # YYYY-MM or YYYY, several joined by " | ", and N/A where there is none (369 of its 860 items).
    "temporal": dict(
        task="Find the time expressions in a news sentence and resolve each to a date (YYYY-MM-DD, YYYY-MM or YYYY) "
        "relative to the posting date, joining several with ' | '; answer N/A when there is none or it is ambiguous.",
        type="generation",
        test="p2m_temporal/temporal.jsonl",
        input="input_col",
        gold="output_col",
        examples=[
            {"input": "[Posted: 2014-05-02] The meeting took place on Tuesday.", "output": "Tuesday == 2014-04-29"},
            {
                "input": "[Posted: 2016-01-10] The law changed last March, after prices rose sharply in 2008.",
                "output": "last March == 2015-03 | 2008 == 2008",
            },
            {"input": "[Posted: 2011-08-15] Officials said the plan would be reviewed.", "output": "N/A"},
        ],
    ),
    "gsm8k": dict(
        task="Solve grade school math word problems; end with the final number.",
        type="math",
        test="gsm8k/test.jsonl",
        input="question",
        gold="answer",
        examples=[
            {
                "input": "Tom has 3 boxes of 4 apples and eats 2. How many apples are left?",
                "output": "3 * 4 = 12, 12 - 2 = 10. #### 10",
            },
            {"input": "A book costs $7. How much do 5 books cost?", "output": "5 * 7 = 35. #### 35"},
        ],
    ),
    "squad": dict(
        task="Answer a question about a passage with a short span copied from the passage.",
        type="extraction",
        test="p2m_squad_xquad_en/squad_v1.1_dev_xquad_subset.jsonl",
        input="input_col",
        gold="output_col",
        examples=[
            {
                "input": "Context: The Nile flows north through Egypt into the Mediterranean Sea.\nQuestion: Where does the Nile flow into?",
                "output": "the Mediterranean Sea",
            },
            {
                "input": "Context: Marie Curie won the Nobel Prize in Physics in 1903.\nQuestion: When did Curie win the physics prize?",
                "output": "1903",
            },
        ],
    ),
}


def sampled_rows(task: dict, split: str, n: int | None, seed: int = 0) -> list[dict]:
    """A seeded sample of a split (all of it when n is None) as {input, output}, gold mapped to readable names."""
    rows = [json.loads(line) for line in (DATA / task[split]).read_text().splitlines() if line.strip()]
    if n is not None and n < len(rows):
        rows = random.Random(seed).sample(rows, n)
    names = task.get("names") or {}
    return [{"input": r[task["input"]], "output": names.get(r[task["gold"]], r[task["gold"]])} for r in rows]


def write_lines(path: Path, texts: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(" ".join(t.split()) + "\n" for t in texts))
    return path


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def expected_spec(task: dict, parsed: dict) -> TaskSpec:
    """The spec a careful reader takes from the description (what a user fixes on the TUI's Spec screen):
    for a text task, the parsed spec with the task's real type."""
    if task["type"] != "classification":
        return TaskSpec.from_dict({**parsed, "task_type": task["type"]})
    return TaskSpec(
        instruction=task["task"],
        task_type="classification",
        labels=list(task["names"].values()),
        input_description="text",
    )


def side(result: dict, role: str) -> dict:
    scores = result[role]["metrics"]["all"]
    main = main_metric(scores)
    return {
        "metric": main,
        "value": scores[main],
        "ci95": scores[f"{main}_ci95"],
        "latency_ms": result[role]["latency_ms"],
    }


def trained_and_evaluated(config: RunConfig, task: dict | None, test_file: Path) -> tuple[dict, dict, float, bool]:
    """Run (or resume) a p2m run, replacing the parsed spec by `task`'s expected one when given and
    different, then evaluate on the test file. Returns (report, evaluation, seconds, whether the spec was replaced)."""
    started = time.perf_counter()
    Pipeline(config).run(until="parse")
    parsed = json.loads((config.run_dir() / "spec.json").read_text())
    spec = expected_spec(task, parsed) if task else None
    corrected = spec is not None and (parsed["task_type"], parsed["labels"]) != (spec.task_type, spec.labels)
    if corrected:
        Pipeline(config).replace_spec(spec)
    report = Pipeline(config).run()
    evaluation = Pipeline.open(config.run_dir()).evaluate(test_file)
    return report, evaluation, time.perf_counter() - started, corrected


def scored(evaluation: dict, name: str) -> dict:
    scores = (
        evaluation["teacher"]["readings"].get(name)
        if name in ("greedy", "likelihood")
        else evaluation["baselines"].get(name)
    )
    if not scores:
        return {}
    main = main_metric(scores)
    return {"metric": main, "value": scores[main], "ci95": scores[f"{main}_ci95"]}


def run_teacher_calls(run_dir: Path) -> int:
    """Teacher calls the run's stages made, in every invocation; not those of `p2m eval` on the test items,
    which the report's total also counts once a run has been evaluated before."""
    history = json.loads((run_dir / run_paths.LEDGER).read_text())["history"]
    return sum(
        usage["calls"] for invocation in history for stage, usage in invocation["by_stage"].items() if stage != "eval"
    )


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, {best_device()}"


def write_readme_block(start_marker: str, end_marker: str, block: str) -> None:
    """Replace what README.md holds between the two markers."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = text.index(start_marker) + len(start_marker), text.index(end_marker)
    readme.write_text(text[:start] + "\n" + block + text[end:])


def cell(s: dict | None) -> str:
    return f"{s['value']:.3f} [{s['ci95'][0]:.2f}, {s['ci95'][1]:.2f}]" if s else "n/a"


def interval(d: dict | None, signed: bool = True) -> str:
    if not d or d.get("mean") is None:
        return "n/a"
    sign = "+" if signed else ""
    return f"{d['mean']:{sign}.3f} [{d['ci95'][0]:{sign}.2f}, {d['ci95'][1]:{sign}.2f}]"
