"""TaskSpec: what the user wants, as a typed object validated at the boundary.

`TaskSpec.from_dict` is the one gate every source passes through (teacher JSON, spec.json, the TUI), so
a bad field is caught with a message that can be fed back to the teacher for repair.
`heuristic_spec` (in `task_text`) reads the obvious shapes deterministically ("as X or Y", "Labels: a, b",
"Input: ... Output: ..." pairs), so the labels never depend on the teacher alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from p2m.dedup import label_key
from p2m.errors import P2MError
from p2m.tasks import TaskKind, TaskType, kind_of

TASK_TYPES = tuple(t.value for t in TaskType)


class SpecError(P2MError, ValueError):
    """A task spec failed validation; the message says which field and why."""


@dataclass
class Example:
    input: str
    output: str


@dataclass
class TaskSpec:
    instruction: str
    task_type: TaskType
    labels: list[str] = field(default_factory=list)
    input_description: str = "input"
    output_format: str = ""
    examples: list[Example] = field(default_factory=list)
    # What each label means, one line each (classification): the parse stage asks the teacher for them
    # separately, once the labels are settled, so they are not part of the spec's answer schema.
    label_descriptions: dict[str, str] = field(default_factory=dict, metadata={"answer": False})

    def __post_init__(self) -> None:
        self.task_type = TaskType(self.task_type)

    @property
    def kind(self) -> TaskKind:
        """What this task's kind decides: its prompts, answers, metrics and students (p2m.tasks)."""
        return kind_of(self.task_type)

    @classmethod
    def from_dict(cls, data: dict) -> TaskSpec:
        if not isinstance(data, dict):
            raise SpecError("expected a JSON object")
        instruction = str(data.get("instruction") or "").strip()
        if not instruction:
            raise SpecError("'instruction' is empty")
        task_type = str(data.get("task_type") or "").strip().lower()
        try:
            labelled = kind_of(task_type).labelled
        except ValueError:
            raise SpecError(f"'task_type' must be one of {', '.join(TASK_TYPES)}, not {task_type!r}") from None
        labels = data.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(l, str) for l in labels):
            raise SpecError("'labels' must be a list of strings")
        labels = unique_labels([l.strip() for l in labels if l.strip()])
        if labelled and len(labels) < 2:
            raise SpecError("a classification task needs at least two 'labels'")
        examples = []
        if not isinstance(data.get("examples") or [], list):
            raise SpecError("'examples' must be a list of {input, output} objects")
        for item in data.get("examples") or []:
            if not isinstance(item, dict) or not str(item.get("input", "")).strip():
                raise SpecError("each example needs a non-empty 'input'")
            examples.append(Example(str(item["input"]).strip(), str(item.get("output", "")).strip()))
        if labelled:
            unknown = {e.output for e in examples} - set(labels)
            if unknown:
                raise SpecError(f"examples use labels not in 'labels': {sorted(unknown)}")
        descriptions = checked_descriptions(data.get("label_descriptions") or {}, labels) if labelled else {}
        return cls(
            instruction=instruction,
            task_type=task_type,
            labels=labels if labelled else [],
            input_description=str(data.get("input_description") or "input").strip(),
            output_format=str(data.get("output_format") or "").strip(),
            examples=examples,
            label_descriptions=descriptions,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    def label_glossary(self) -> str:
        """The labels with their descriptions as a prompt block ("" when there are none)."""
        if not self.label_descriptions:
            return ""
        return "Labels:\n" + "".join(
            f"- {l}: {self.label_descriptions[l]}\n" for l in self.labels if l in self.label_descriptions
        )

    def label_texts(self, label: str) -> list[str]:
        """The label's name, and its description where the spec has one: what an embedding reads the label as."""
        description = self.label_descriptions.get(label)
        return [label, f"{label}: {description}"] if description else [label]


MAX_DESCRIPTION_CHARS = 300


def checked_descriptions(descriptions: dict, labels: list[str]) -> dict[str, str]:
    """Label -> one-line description, for labels of the spec only; a description is a short line of text."""
    if not isinstance(descriptions, dict) or not all(isinstance(v, str) for v in descriptions.values()):
        raise SpecError("'label_descriptions' must map each label to a string")
    unknown = set(descriptions) - set(labels)
    if unknown:
        raise SpecError(f"'label_descriptions' name labels not in 'labels': {sorted(unknown)}")
    out = {}
    for label in labels:
        text = " ".join(descriptions.get(label, "").split())
        if len(text) > MAX_DESCRIPTION_CHARS:
            raise SpecError(f"the description of {label!r} is longer than {MAX_DESCRIPTION_CHARS} characters")
        if text:
            out[label] = text
    return out


def unique_labels(labels: list[str]) -> list[str]:
    """Labels in order, those that read as an earlier one (dedup.label_key: "Positive." = "positive")
    dropped, so no two labels of a spec can be confused when answers are matched to them."""
    seen, out = set(), []
    for label in labels:
        if label_key(label) not in seen:
            seen.add(label_key(label))
            out.append(label)
    return out
