"""Parse: task description -> TaskSpec (spec.json).

The teacher is asked for JSON (schema-constrained where the server supports it) and its answer is
validated by `TaskSpec.from_dict`; a failure is sent back with the error for a bounded number of repair
tries. Fields read deterministically from the text (explicit labels, Input/Output pairs) win over the
teacher's, which a weak teacher needs. If nothing valid comes back, the deterministic reading is used
and the spec records a warning. Once the labels are settled, the teacher describes each in one line
(`label_descriptions`, editable like the rest of the spec).
"""

from __future__ import annotations

from p2m import prompts, run_paths
from p2m.dedup import normalize
from p2m.files import write_json
from p2m.spec import SpecError, TaskSpec, checked_descriptions
from p2m.stages.base import RunContext, Stage
from p2m.task_text import heuristic_spec
from p2m.tasks import KINDS
from p2m.teacher.calls import Teacher
from p2m.teacher.structured import InvalidAnswer, ask_json, json_schema

SPEC_SCHEMA = json_schema(TaskSpec)  # what the teacher's constrained decoding may write


def ask_teacher_for_spec(teacher: Teacher, task: str) -> tuple[dict | None, list[str]]:
    """The teacher's spec as a validated dict (or None), and the errors met on the way."""
    system, user = prompts.render("parse_task", task=task)

    def validate(data: dict) -> dict:
        TaskSpec.from_dict(data)
        return data

    return ask_json(teacher, (("system", system), ("user", user)), SPEC_SCHEMA, validate)


def parse_task(teacher: Teacher, task: str, user_examples: list[dict] = ()) -> tuple[TaskSpec, list[str]]:
    """The merged, validated spec and human-readable warnings about how it was obtained."""
    warnings: list[str] = []
    read = heuristic_spec(task)
    llm, errors = ask_teacher_for_spec(teacher, task)
    if llm is None:
        warnings.append(f"teacher gave no valid spec ({errors[-1]}); used the deterministic reading of the task")
        llm = {}
    warnings += disagreements(llm, read)
    llm["examples"] = stated_examples(llm.get("examples") or [], task, warnings)
    merged = {**llm, **read}  # what the text states explicitly beats the teacher's reading
    merged.setdefault("instruction", task.strip())
    if "task_type" not in merged:
        merged["task_type"] = "generation"
        warnings.append("could not tell the task type; assumed generation")
    merged["examples"] = _unique_examples(list(read.get("examples", llm.get("examples", []))) + list(user_examples))
    kind = KINDS.get(str(merged["task_type"]))  # None: not a task type; from_dict below says so
    if kind and kind.labelled:
        labels = list(merged.get("labels") or [])
        extra = [e["output"] for e in merged["examples"] if e["output"] not in labels]
        if extra:
            warnings.append(f"labels taken from the examples: {sorted(set(extra))}")
            labels += sorted(set(extra))
        merged["labels"] = labels
    if kind and kind.answers_from_input and not all(spans_of_inputs(merged["examples"])):
        merged["task_type"] = "generation"
        warnings.append(
            "read as extraction, but the examples' answers are not copied from their inputs; used generation"
        )
    try:
        return TaskSpec.from_dict(merged), warnings
    except SpecError as error:
        raise SpecError(f"could not understand the task: {error}. Say it explicitly, e.g. 'Labels: a, b, c'") from None


def describe_labels(teacher: Teacher, spec: TaskSpec) -> tuple[dict[str, str], list[str]]:
    """The teacher's one-line description of each label (label descriptions steer generation, the
    teacher's classify and likelihood prompts and the embedding verifiers toward what a label means:
    TREC's "description" is a question asking for a definition or reason, not a descriptive text).
    ({}, warnings) when it gives none usable; the task goes on with bare label names."""
    if not spec.kind.labelled:
        return {}, []
    system, user = prompts.render(
        "describe_labels",
        instruction=spec.instruction,
        input_description=spec.input_description,
        labels=", ".join(spec.labels),
    )
    schema = {
        "type": "object",
        "properties": {l: {"type": "string"} for l in spec.labels},
        "required": list(spec.labels),
    }

    def validate(data: dict) -> dict[str, str]:
        missing = [l for l in spec.labels if not str(data.get(l) or "").strip()]
        if missing:
            raise InvalidAnswer(f"no description for {missing}")
        return distinct_from(checked_descriptions({l: data[l] for l in spec.labels}, spec.labels), system + user)

    descriptions, errors = ask_json(
        teacher, (("system", system), ("user", user)), schema, validate, max_tokens=100 + 60 * len(spec.labels)
    )
    if descriptions is None:
        return {}, [f"teacher gave no usable label descriptions ({errors[-1]}); the labels are used by name alone"]
    return descriptions, []


def distinct_from(descriptions: dict[str, str], prompt: str) -> dict[str, str]:
    """The descriptions, unless one copies the prompt (its worked example) or two labels share one: a
    weak teacher (SmolLM2) gives every label the example's "An email reporting that something ... fails",
    which would steer generation and the verifiers away from what the labels mean."""
    shown, seen = normalize(prompt), {}
    for label, text in descriptions.items():
        key = normalize(text)
        if key in shown:
            raise InvalidAnswer(f"the description of {label!r} copies the prompt; describe {label!r} for this task")
        if key in seen:
            raise InvalidAnswer(f"{seen[key]!r} and {label!r} have the same description; say how they differ")
        seen[key] = label
    return descriptions


def stated_examples(examples: list[dict], task: str, warnings: list[str]) -> list[dict]:
    """The teacher's examples whose input the description really contains: a model asked to copy the
    examples it was given sometimes writes its own, and those would become gold test items."""
    text = normalize(task)
    kept = [e for e in examples if (said := normalize(str(e.get("input", "")))) and said in text]
    if len(kept) < len(examples):
        warnings.append(
            f"dropped {len(examples) - len(kept)} example(s) the teacher gave that the description does not contain"
        )
    return kept


def spans_of_inputs(examples: list[dict]) -> list[bool]:
    """Per example, is its answer copied from its input (what an extraction answer is, and what a span
    student can learn)?"""
    return [normalize(e["output"]) in normalize(e["input"]) for e in examples if e["output"]]


def disagreements(llm: dict, read: dict) -> list[str]:
    """Where the teacher's reading and the text's differ on task type or labels (the text's is used)."""
    out = []
    if llm.get("task_type") and read.get("task_type") and llm["task_type"] != read["task_type"]:
        out.append(
            f"the teacher read the task as {llm['task_type']}, the text as {read['task_type']}; used the text's reading"
        )
    ours, theirs = read.get("labels"), llm.get("labels")
    if ours and theirs and {l.lower() for l in ours} != {l.strip().lower() for l in theirs}:
        out.append(f"the teacher read the labels {theirs}, the text {ours}; used the text's labels")
    return out


def _unique_examples(examples: list[dict]) -> list[dict]:
    seen, out = set(), []
    for example in examples:
        key = str(example.get("input", "")).strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append({"input": str(example["input"]), "output": str(example.get("output", ""))})
    return out


class Parse(Stage):
    name = "parse"
    version = 4  # extraction only where the examples' answers are spans of their inputs
    config_fields = ("task", "examples")
    uses_teacher = True
    prompt_files = ("parse_task", "repair_json", "describe_labels")
    outputs = (run_paths.SPEC,)

    def run(self, ctx: RunContext) -> None:
        ctx.progress.task("reading the task description", total=None)
        spec, warnings = parse_task(ctx.teacher, ctx.config.task, ctx.config.examples)
        spec.label_descriptions, described = describe_labels(ctx.teacher, spec)
        warnings += described
        for warning in warnings:
            ctx.progress.log(f"parse: {warning}")
        write_json(ctx.path(run_paths.SPEC), {**spec.to_dict(), "warnings": warnings})
