"""TaskSpec: what the user wants, as a typed object validated at the boundary.

`TaskSpec.from_dict` is the one gate every source passes through (teacher JSON, spec.json, the TUI), so
a bad field is caught with a message that can be fed back to the teacher for repair.
`heuristic_spec` reads the obvious shapes deterministically ("as X or Y", "Labels: a, b", "Input: ...
Output: ..." pairs), because a weak embedded teacher often cannot.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from p2m.errors import P2MError

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
    task_type: str
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
        labels = _unique([l.strip() for l in labels if l.strip()])
        if task_type == "classification" and len(labels) < 2:
            raise SpecError("a classification task needs at least two 'labels'")
        examples = []
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


def _unique(items: list[str]) -> list[str]:
    seen, out = set(), []
    for item in items:
        if item.lower() not in seen:
            seen.add(item.lower())
            out.append(item)
    return out


_CLASSIFY = re.compile(r"\b(classif\w*|categori[sz]\w*|label\w*|tag|detect|identify|decide (?:whether|if)|tell whether|is it|sentiment|intent)\b", re.I)
_EXTRACT = re.compile(r"\b(extract\w*|find the span|answer .* from the (passage|context))\b", re.I)
_GENERATE = re.compile(r"\b(convert\w*|translat\w*|rewrit\w*|summari[sz]\w*|generat\w*|paraphras\w*|normali[sz]\w*|write)\b", re.I)
_MATH = re.compile(r"\b(math\w*|arithmetic|word problems?|solve|calculate|compute)\b", re.I)
_LABELS_LINE = re.compile(r"^\s*(?:labels?|classes|categories)\s*[:=]\s*(.+)$", re.I | re.M)
_AS_LIST = re.compile(r"\b(?:as|into|between|to one of|either)\s+(?:either\s+)?(.+?)(?:[.;:\n]|$)", re.I)
_PAIR = re.compile(r"^\s*input\s*:\s*(.+?)\s*\n\s*(?:output|label|answer)\s*:\s*(.+?)\s*$", re.I | re.M)
_LIKE = re.compile(r"\blike\s+['\"](.+?)['\"]\s+(?:to|into|as)\s+.*?(\S+?)[.]?$", re.I)
_SUBJECT = re.compile(r"\b(?:classify|categori[sz]e|label|tag|convert|translate|summari[sz]e|rewrite)\s+(?:the\s+|each\s+|a\s+)?(.+?)\s+(?:as|into|to|by|from|in)\b", re.I)


def _split_list(text: str) -> list[str]:
    text = re.sub(r"\(.*?\)", "", text)
    parts = re.split(r",|\bor\b|\band\b|/|\|", text)
    return [p.strip(" '\"`*-").strip() for p in parts if p.strip(" '\"`*-").strip()]


def heuristic_spec(task: str) -> dict:
    """A best-effort spec from the description's surface form; fields it cannot read with confidence
    are left out, so the teacher's reading fills them."""
    out: dict = {}
    pairs = _PAIR.findall(task)
    body = _PAIR.sub("", task).strip()
    first_sentence = re.split(r"(?<=[.!?])\s|\n", body, maxsplit=1)[0].strip()
    if first_sentence:
        out["instruction"] = first_sentence
    labels: list[str] = []
    if m := _LABELS_LINE.search(task):
        labels = _split_list(m.group(1))
    elif _CLASSIFY.search(first_sentence) and (m := _AS_LIST.search(first_sentence)):
        labels = [l for l in _split_list(m.group(1)) if len(l.split()) <= 3]
    if len(labels) >= 2:
        out["task_type"] = "classification"
        out["labels"] = _unique(labels)
    elif _EXTRACT.search(body):
        out["task_type"] = "extraction"
    elif _MATH.search(body):
        out["task_type"] = "math"
    elif _GENERATE.search(first_sentence):
        out["task_type"] = "generation"
    if m := _SUBJECT.search(first_sentence):
        out["input_description"] = re.sub(r"\s+like\s+.*$", "", m.group(1)).strip()
    if m := _LIKE.search(first_sentence):  # "Convert dates like 'March 3, 2021' to ISO 2021-03-03"
        pairs.append((m.group(1), m.group(2)))
    if pairs:
        out["examples"] = [{"input": i.strip(" '\""), "output": o.strip(" '\"")} for i, o in pairs]
    return out


def looks_like_classification(text: str) -> bool:
    """Words that name a labelling task ('classify', 'sentiment', 'intent'), labels listed or not."""
    return bool(_CLASSIFY.search(text))
