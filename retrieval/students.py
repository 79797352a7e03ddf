"""Choose the student model: BM25 (rank-bm25) over a registry of models fit to be students.

The registry (`students.json`) is written by the project from published facts (parameters, licence,
architecture, tasks). A model is a candidate only if p2m can train it for the task's type (an encoder
for classification, a causal LM for text output) and, offline, only if its weights are on this
machine (the embedded packages, the Hugging Face cache, or a local directory).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

from rank_bm25 import BM25Okapi

from p2m.embedded import EMBEDDED_PATHS, embedded_installed
from p2m.errors import P2MError
from p2m.spec import TaskSpec

# What p2m can train today, per task type.
TRAINABLE_ARCH = {"classification": "encoder", "generation": "causal", "extraction": "causal", "math": "causal"}


@dataclass
class StudentChoice:
    id: str
    arch: str
    score: float = 0.0
    available: bool = False
    matched_terms: list[str] = field(default_factory=list)
    why: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@cache
def registry() -> list[dict]:
    return json.loads((Path(__file__).with_name("students.json")).read_text())


def tokenize(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _document(entry: dict) -> list[str]:
    fields = [entry["id"].replace("/", " "), entry["arch"], " ".join(entry["tasks"]), entry["description"]]
    return tokenize(" ".join(fields))


def is_available(model_id: str) -> bool:
    """Weights on this machine: an embedded package, a local directory, or the Hugging Face cache."""
    if model_id in EMBEDDED_PATHS:
        return embedded_installed(model_id)
    if (Path(model_id) / "config.json").exists():
        return True
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(model_id, "config.json"), str)


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def rank_students(spec: TaskSpec, max_params: int | None = None, top_k: int = 5) -> list[StudentChoice]:
    """Compatible registry models, best first: available ones before the rest, then by BM25 score."""
    entries = registry()
    bm25 = BM25Okapi([_document(e) for e in entries])
    query = tokenize(f"{spec.instruction} {spec.task_type} {spec.input_description} {spec.output_format}")
    scores = bm25.get_scores(query)
    wanted = TRAINABLE_ARCH[spec.task_type]
    choices = []
    for entry, score in zip(entries, scores):
        if entry["arch"] != wanted or (max_params and entry["params"] > max_params):
            continue
        document = set(_document(entry))
        available = is_available(entry["id"])
        choices.append(
            StudentChoice(
                id=entry["id"],
                arch=entry["arch"],
                score=round(float(score), 3),
                available=available,
                matched_terms=sorted(set(query) & document),
                why=f"{entry['arch']} fits {spec.task_type}; {entry['params'] / 1e6:.0f}M params; "
                f"{entry['license']}; {'weights on this machine' if available else 'needs a download'}",
            )
        )
    choices.sort(key=lambda c: (c.available, c.score), reverse=True)
    return choices[:top_k]


def find_student(name: str) -> StudentChoice:
    """Where the student `name` (a registry id, a Hub id or a local directory) comes from; an unknown
    name fails here, before any teacher call is spent."""
    if (Path(name) / "config.json").exists():
        return StudentChoice(id=str(Path(name).resolve()), arch="", available=True, why="local directory given by --student")
    known = {e["id"]: e for e in registry()}
    if name in known:
        return StudentChoice(id=name, arch=known[name]["arch"], available=is_available(name), why="given by --student")
    if is_available(name):
        return StudentChoice(id=name, arch="", available=True, why="given by --student (Hugging Face cache)")
    if not offline() and _exists_on_hub(name):
        return StudentChoice(id=name, arch="", why="given by --student (Hugging Face Hub)")
    raise P2MError(
        f"unknown student model '{name}': not a local model directory, not in p2m's registry and not found "
        "on the Hugging Face Hub"
    )


def resolve_student(name: str, spec: TaskSpec) -> StudentChoice:
    """The student for `--student NAME` ('auto' or as in `find_student`), checked against the task."""
    wanted = TRAINABLE_ARCH[spec.task_type]
    if name == "auto":
        ranked = [c for c in rank_students(spec) if c.available or not offline()]
        if not ranked:
            raise P2MError(f"no {wanted} student is available offline; pip install 'p2m[embedded]' or pass --student PATH")
        return ranked[0]
    choice = find_student(name)
    if choice.arch and choice.arch != wanted:
        raise P2MError(f"student {name} ({choice.arch}) cannot be trained for {spec.task_type}: that needs a model of kind '{wanted}'")
    choice.arch = wanted
    return choice


def _exists_on_hub(model_id: str) -> bool:
    from huggingface_hub import model_info

    try:
        model_info(model_id, timeout=10)
        return True
    except Exception:  # not found, gated, malformed id or no network: all mean "cannot use it"
        return False
