"""Synthesize: the teacher writes diverse inputs (data/candidates.jsonl).

For classification the inputs are label-conditioned: example i is written *for* label i mod L (with
the label's description, where the spec has one), so the labels are balanced and the intended label is
a verifier of its own, independent of the teacher's later judgement. Before that the teacher lists
subjects per label (ZeroGen's two stages) and each input is written about one of them. Diversity
also comes from a style attribute, a temperature schedule and few-shot user examples; every request
has a fixed seed per index, so raising --num-examples only adds new calls.
"""

from __future__ import annotations

import random
import re

from p2m import prompts, run_paths
from p2m.dedup import normalize
from p2m.files import read_jsonl, write_jsonl
from p2m.spec import Example, TaskSpec
from p2m.stages.base import RunContext, Stage
from p2m.stages.passages import SUBJECTS_SCHEMA, passage_candidates, wants_passages
from p2m.teacher.calls import ChatRequest, Teacher
from p2m.teacher.structured import InvalidAnswer, ask_json

TEMPERATURES = (0.7, 0.85, 1.0)
_PREAMBLE = re.compile(r"^\s*(?:sure[^:\n]*[:\n]|here(?: is|'s)[^:\n]*[:\n])", re.I)
_PREFIX = re.compile(r"^\s*(?:sure[^:\n]*[:\n]|here(?: is|'s)[^:\n]*[:\n]|\w+(?: \w+)?:\s)", re.I)


def clean_generated(text: str, cut_short: bool = False) -> str:
    """The example itself: no preamble ("Here is...:", "Review:"), no wrapping quotes, first paragraph;
    an answer cut short by the token limit ends at its last full sentence, where it has one."""
    text = _PREFIX.sub("", text.strip(), count=1).strip()
    text = text.split("\n\n")[0].strip().strip("\"“”'").strip()
    if cut_short and (end := max(text.rfind(". "), text.rfind("! "), text.rfind("? "))) > len(text) // 3:
        text = text[: end + 1]
    return text[:600]


def clean_passage_input(text: str) -> str:
    """An extraction input keeps its "Context:"/"Question:" parts: only a preamble goes, and blank lines."""
    text = _PREAMBLE.sub("", text.strip(), count=1).strip()
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())[:3000]


ANY_INPUT = ""  # the subjects key of a text task's inputs, which have no label


def label_meaning(spec: TaskSpec, label: str) -> str:
    meaning = spec.label_descriptions.get(label, "").rstrip(".")
    return f" ({meaning})" if meaning else ""


def generation_prompt(spec: TaskSpec, label: str | None) -> str:
    """The words of the prompt an input for `label` (None: any input) was written from, without the
    parts that an input may share (subject, meaning, style): what an input that echoes its prompt
    repeats ("Add only, no preamble and no label")."""
    values = dict(instruction=spec.instruction, input_description=spec.input_description, style="", subject="")
    if label is None:
        return "\n".join(prompts.render(spec.kind.input_prompt, **values))
    return "\n".join(prompts.render("generate_input_for_label", **values, label=label, meaning=""))


def list_subjects(teacher: Teacher, spec: TaskSpec, label: str | None, count: int) -> list[str]:
    """Up to `count` distinct subjects an input of `label` (None: any input of a text task) could be
    about (ZeroGen's first stage); [] when the teacher gives no usable list: those inputs are then
    written without one."""
    common = dict(instruction=spec.instruction, input_description=spec.input_description, count=count)
    system, user = (
        prompts.render("list_input_subjects", **common)
        if label is None
        else prompts.render("list_subjects", **common, label=label, meaning=label_meaning(spec, label))
    )

    def validate(data: dict) -> list[str]:
        if not isinstance(data.get("subjects"), list):
            raise InvalidAnswer('reply {"subjects": [...]}, a list of strings')
        subjects: dict[str, str] = {}
        for subject in data["subjects"]:
            if isinstance(subject, str) and normalize(subject):
                subjects.setdefault(normalize(subject), " ".join(subject.split())[:80])
        subjects = list(subjects.values())
        if len(subjects) < min(3, count):
            raise InvalidAnswer(f"list at least {min(3, count)} different subjects")
        return subjects[:count]

    subjects, _ = ask_json(
        teacher, (("system", system), ("user", user)), SUBJECTS_SCHEMA, validate, max_tokens=16 * count + 40
    )
    return subjects or []


def candidate_requests(
    spec: TaskSpec,
    count: int,
    seed: int,
    real_rows: list[dict] = (),
    subjects: dict[str, list[str]] | None = None,
    styled: bool = True,
) -> list[tuple[dict, ChatRequest]]:
    """(metadata, request) for each candidate index; deterministic in (spec, index, seed, subjects, styled).
    Rows from real datasets seed the few-shot examples where the user gave fewer than three; the k-th
    input written for a label is about that label's k-th subject (cycling), where it has subjects; a
    text task's i-th input about the i-th of the task's subjects (keyed ANY_INPUT)."""
    # Prose styles ("write it casually") make short structured inputs (dates, codes) worse.
    short_inputs = spec.examples and sum(len(e.input.split()) for e in spec.examples) / len(spec.examples) < 8
    styles = prompts.lines(spec.kind.input_styles) if styled and not short_inputs else [""]
    common = dict(instruction=spec.instruction, input_description=spec.input_description)
    seeds = spec.examples + [Example(r["input"], r["output"]) for r in real_rows[: max(0, 3 - len(spec.examples)) * 4]]
    out = []
    for i in range(count):
        style = random.Random(f"{seed}-{i}").choice(styles)
        meta = {"id": f"syn-{i}", "style": style}
        if spec.kind.labelled:
            label = spec.labels[i % len(spec.labels)]
            meta["intended_label"] = label
            about = (subjects or {}).get(label) or [""]
            meta["subject"] = about[(i // len(spec.labels)) % len(about)]
            name, values = (
                "generate_input_for_label",
                dict(
                    common,
                    label=label,
                    meaning=label_meaning(spec, label),
                    subject=f", about {meta['subject']}" if meta["subject"] else "",
                ),
            )
            examples = [e for e in seeds if e.output == label]
        else:
            about = (subjects or {}).get(ANY_INPUT) or [""]
            meta["subject"] = about[i % len(about)]
            name, values, examples = (
                spec.kind.input_prompt,
                dict(common, subject=f", about {meta['subject']}" if meta["subject"] else ""),
                seeds,
            )
        shots = [({"style": "", "subject": ""}, e.input) for e in examples[:3]]
        messages = prompts.chat(name, shots, style=style, **values)
        request = ChatRequest(
            messages,
            temperature=TEMPERATURES[i % len(TEMPERATURES)],
            max_tokens=spec.kind.input_tokens,
            seed=seed * 100_003 + i,
        )
        out.append((meta, request))
    return out


def input_subjects(ctx: RunContext, spec: TaskSpec) -> dict[str, list[str]]:
    """With --subjects-per-label above 0: each label's subjects (classification), or the task's own,
    twice as many, keyed ANY_INPUT (text tasks: about as many as a binary classifier's two labels get)."""
    if not ctx.config.subjects_per_label:
        return {}
    classifier = spec.kind.labelled
    labels, count = (
        (spec.labels, ctx.config.subjects_per_label) if classifier else ([None], 2 * ctx.config.subjects_per_label)
    )
    ctx.progress.task(
        "listing subjects for each label" if classifier else "listing subjects for the inputs", total=len(labels)
    )
    subjects = {}
    for label in labels:
        subjects[ANY_INPUT if label is None else label] = list_subjects(ctx.teacher, spec, label, count)
        ctx.progress.advance(1)
    return subjects


class Synthesize(Stage):
    name = "synthesize"
    version = 8  # reading-comprehension subjects listed field by field (passage_fields)
    config_fields = ("num_examples", "subjects_per_label", "styles", "seed")
    uses_teacher = True
    prompt_files = (
        "generate_input_for_label",
        "generate_input",
        "generate_problem",
        "styles",
        "math_styles",
        "list_subjects",
        "list_input_subjects",
        "repair_json",
        "list_passage_subjects",
        "passage_fields",
        "generate_passage",
        "generate_questions",
    )
    inputs = (run_paths.SPEC, run_paths.RETRIEVED)
    outputs = (run_paths.CANDIDATES,)

    def run(self, ctx: RunContext) -> None:
        spec = ctx.spec()
        if wants_passages(spec):
            write_jsonl(
                ctx.path(run_paths.CANDIDATES), passage_candidates(ctx, spec, ctx.config.num_examples, ctx.config.seed)
            )
            return
        planned = candidate_requests(
            spec,
            ctx.config.num_examples,
            ctx.config.seed,
            read_jsonl(ctx.path(run_paths.RETRIEVED)),
            input_subjects(ctx, spec),
            ctx.config.styles,
        )
        responses = ctx.chat([request for _, request in planned], "generating inputs")
        rows = [
            {
                **meta,
                "input": clean_passage_input(response.text)
                if spec.kind.passage_inputs
                else clean_generated(response.text, response.completion_tokens >= request.max_tokens),
                "raw": response.text,
            }
            for (meta, request), response in zip(planned, responses)
        ]
        write_jsonl(ctx.path(run_paths.CANDIDATES), rows)
