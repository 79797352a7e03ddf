"""TaskSpec: what the user wants, as a typed object validated at the boundary.

`TaskSpec.from_dict` is the one gate every source passes through (teacher JSON, spec.json, the TUI), so
a bad field is caught with a message that can be fed back to the teacher for repair.
`heuristic_spec` (in `task_text`) reads the obvious shapes deterministically ("as X or Y", "Labels: a, b",
"Input: ... Output: ..." pairs), so the labels never depend on the teacher alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from p2m.errors import P2MError
from p2m.dedup import label_key

TASK_TYPES = ("classification", "generation", "extraction", "math")


class SpecError(P2MError, ValueError):
    """A task spec failed validation; the message says which field and why."""


@dataclass
class Example:
    input: str
    output: str


@dataclass
class TaskSpec:
    instruction: str
    task_type: str = field(metadata={"enum": TASK_TYPES})
    labels: list[str] = field(default_factory=list)
    input_description: str = "input"
    output_format: str = ""
    examples: list[Example] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict) -> "TaskSpec":
        if not isinstance(data, dict):
            raise SpecError("expected a JSON object")
        instruction = str(data.get("instruction") or "").strip()
        if not instruction:
            raise SpecError("'instruction' is empty")
        task_type = str(data.get("task_type") or "").strip().lower()
        if task_type not in TASK_TYPES:
            raise SpecError(f"'task_type' must be one of {', '.join(TASK_TYPES)}, not {task_type!r}")
        labels = data.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(l, str) for l in labels):
            raise SpecError("'labels' must be a list of strings")
        labels = unique_labels([l.strip() for l in labels if l.strip()])
        if task_type == "classification" and len(labels) < 2:
            raise SpecError("a classification task needs at least two 'labels'")
        examples = []
        if not isinstance(data.get("examples") or [], list):
            raise SpecError("'examples' must be a list of {input, output} objects")
        for item in data.get("examples") or []:
            if not isinstance(item, dict) or not str(item.get("input", "")).strip():
                raise SpecError("each example needs a non-empty 'input'")
            examples.append(Example(str(item["input"]).strip(), str(item.get("output", "")).strip()))
        if task_type == "classification":
            unknown = {e.output for e in examples} - set(labels)
            if unknown:
                raise SpecError(f"examples use labels not in 'labels': {sorted(unknown)}")
        return cls(
            instruction=instruction,
            task_type=task_type,
            labels=labels if task_type == "classification" else [],
            input_description=str(data.get("input_description") or "input").strip(),
            output_format=str(data.get("output_format") or "").strip(),
            examples=examples,
        )

    def to_dict(self) -> dict:
        return asdict(self)


def unique_labels(labels: list[str]) -> list[str]:
    """Labels in order, those that read as an earlier one (dedup.label_key: "Positive." = "positive")
    dropped, so no two labels of a spec can be confused when answers are matched to them."""
    seen, out = set(), []
    for label in labels:
        if label_key(label) not in seen:
            seen.add(label_key(label))
            out.append(label)
    return out


