"""Synthesize: the teacher writes diverse inputs (data/candidates.jsonl).

For classification the inputs are label-conditioned: example i is written *for* label i mod L, so the
labels are balanced and the intended label is a verifier of its own, independent of the teacher's
later judgement. Diversity comes from a style attribute, a temperature schedule and few-shot user
examples; every request has a fixed seed per index, so raising --num-examples only adds new calls.
"""

from __future__ import annotations

import random
import re

from p2m import prompts, run_paths
from p2m.files import read_jsonl, write_jsonl
from p2m.teacher.calls import ChatRequest
from p2m.stages.base import RunContext, Stage
from p2m.spec import Example, TaskSpec

TEMPERATURES = (0.7, 0.85, 1.0)
# One input of a few sentences. Longer ones cost the verifiers' likelihood passes in proportion (on 2 CPU
# cores the 1.5B teacher's 96-token inputs took the main job from 6 to 14 minutes) and add little.
MAX_TOKENS = 48
_PREFIX = re.compile(r"^\s*(?:sure[^:\n]*[:\n]|here(?: is|'s)[^:\n]*[:\n]|\w+(?: \w+)?:\s)", re.I)


def clean_generated(text: str, cut_short: bool = False) -> str:
    """The example itself: no preamble ("Here is...:", "Review:"), no wrapping quotes, first paragraph;
    an answer cut short by the token limit ends at its last full sentence, where it has one."""
    text = _PREFIX.sub("", text.strip(), count=1).strip()
    text = text.split("\n\n")[0].strip().strip('"“”\'').strip()
    if cut_short and (end := max(text.rfind(". "), text.rfind("! "), text.rfind("? "))) > len(text) // 3:
        text = text[: end + 1]
    return text[:600]


def candidate_requests(spec: TaskSpec, count: int, seed: int, real_rows: list[dict] = ()) -> list[tuple[dict, ChatRequest]]:
    """(metadata, request) for each candidate index; deterministic in (spec, index, seed). Rows from
    real datasets seed the few-shot examples where the user gave fewer than three."""
    # Prose styles ("write it casually") make short structured inputs (dates, codes) worse.
    short_inputs = spec.examples and sum(len(e.input.split()) for e in spec.examples) / len(spec.examples) < 8
    styles = [""] if short_inputs else prompts.lines("styles")
    common = dict(instruction=spec.instruction, input_description=spec.input_description)
    seeds = spec.examples + [Example(r["input"], r["output"]) for r in real_rows[: max(0, 3 - len(spec.examples)) * 4]]
    out = []
    for i in range(count):
        style = random.Random(f"{seed}-{i}").choice(styles)
        meta = {"id": f"syn-{i}", "style": style}
        if spec.task_type == "classification":
            label = spec.labels[i % len(spec.labels)]
            meta["intended_label"] = label
            name, values = "generate_input_for_label", dict(common, label=label)
            examples = [e for e in seeds if e.output == label]
        else:
            name, values, examples = "generate_input", common, seeds
        shots = [({"style": ""}, e.input) for e in examples[:3]]
        messages = prompts.chat(name, shots, style=style, **values)
        request = ChatRequest(messages, temperature=TEMPERATURES[i % len(TEMPERATURES)], max_tokens=MAX_TOKENS, seed=seed * 100_003 + i)
        out.append((meta, request))
    return out


class Synthesize(Stage):
    name = "synthesize"
    version = 2  # inputs of at most 48 tokens, a cut-short one ending at its last full sentence
    config_fields = ("num_examples", "seed")
    uses_teacher = True
    prompt_files = ("generate_input_for_label", "generate_input", "styles")
    inputs = (run_paths.SPEC, run_paths.RETRIEVED)
    outputs = (run_paths.CANDIDATES,)

    def run(self, ctx: RunContext) -> None:
        spec = ctx.spec()
        planned = candidate_requests(spec, ctx.config.num_examples, ctx.config.seed, read_jsonl(ctx.path(run_paths.RETRIEVED)))
        responses = ctx.chat([request for _, request in planned], "generating inputs")
        rows = [
            {**meta, "input": clean_generated(response.text, response.completion_tokens >= request.max_tokens), "raw": response.text}
            for (meta, request), response in zip(planned, responses)
        ]
        write_jsonl(ctx.path(run_paths.CANDIDATES), rows)
