"""Choose the student model: the catalog search (`search.Index`) with the task as the query.

The query is the parsed task plus, in a run, a hypothetical model card the teacher writes for it
(HyDE: a card-shaped query matches card-shaped documents better than an instruction does).
`--student auto` takes the best model p2m can train for the task among those whose weights are on
this machine, and searches the whole catalog (a download) only where none fits. An explicit `--student` is checked before any teacher call is spent.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from p2m import prompts
from p2m.embedded import EMBEDDED_PATHS, embedded_installed
from p2m.errors import P2MError
from p2m.retrieval.catalog import load_catalog, registry, snapshot_path
from p2m.retrieval.search import Constraints, Hit, Index, task_languages
from p2m.spec import TaskSpec
from p2m.task_text import heuristic_spec, looks_like_classification
from p2m.tasks import TaskType, kind_of
from p2m.teacher.calls import ChatRequest, Teacher


@dataclass
class StudentChoice:
    id: str
    arch: str
    available: bool = False
    why: str = ""
    hit: dict = field(default_factory=dict)  # the search result that chose it, with its explanation

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "arch": self.arch,
            "available": self.available,
            "why": self.why,
            **({"search": self.hit} if self.hit else {}),
        }


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def is_available(model_id: str) -> bool:
    """Weights on this machine: an embedded package, a local directory, or the Hugging Face cache."""
    if model_id in EMBEDDED_PATHS:
        return embedded_installed(model_id)
    if (Path(model_id) / "config.json").exists():
        return True
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except ValueError:  # not a well-formed Hub id (e.g. a path that does not exist): not on this machine
        return False


@cache
def _index(kind: str, files: tuple[str, ...], snapshot_mtime: float) -> Index:
    return Index(load_catalog(kind, list(files)))


def catalog_index(kind: str = "model", files: tuple[str, ...] = ()) -> Index:
    """The index over the current catalog, rebuilt only when its files or the cached snapshot change."""
    cached = snapshot_path(kind)
    return _index(
        kind, tuple(str(Path(f).resolve()) for f in files), cached.stat().st_mtime if cached.exists() else 0.0
    )


def spec_from_text(task: str) -> TaskSpec:
    """A spec for retrieval without a teacher: the deterministic reading of the description."""
    read = heuristic_spec(task)
    task_type = read.get("task_type") or (
        TaskType.CLASSIFICATION if looks_like_classification(task) else TaskType.GENERATION
    )
    return TaskSpec(
        instruction=task.strip(),
        task_type=task_type,
        labels=read.get("labels", []) if kind_of(task_type).labelled else [],
        input_description=read.get("input_description", "input"),
    )


def query_for(spec: TaskSpec, card: str = "") -> str:
    """The task's words, the language codes it names (ids and tags use codes: opus-mt-zh-en), and the
    card. No generic task words ('text classification'): the architecture constraint already says
    that, and as query terms they pull in popular models of the right type but the wrong task."""
    return " ".join(
        [
            spec.instruction,
            spec.input_description,
            spec.output_format,
            " ".join(spec.labels),
            " ".join(task_languages(spec.instruction)),
            card,
        ]
    )


def hypothetical_card(teacher: Teacher, spec: TaskSpec) -> str:
    """HyDE: the model card a model that does this task would have, written by the teacher."""
    messages = prompts.chat("hypothetical_model_card", instruction=spec.instruction, task_type=spec.task_type)
    return teacher.ask(ChatRequest(messages, max_tokens=120)).text.strip()


def constraints_for(spec: TaskSpec, max_params: int | None = None, licenses: list[str] = (), **flags) -> Constraints:
    return Constraints(
        task_type=spec.task_type,
        max_params=max_params,
        licenses=list(licenses),
        languages=task_languages(spec.instruction) or ["en"],
        **flags,
    )


def rank_students(
    spec: TaskSpec,
    constraints: Constraints | None = None,
    catalog_files: tuple[str, ...] = (),
    top_k: int = 5,
    card: str = "",
) -> list[Hit]:
    index = catalog_index("model", catalog_files)
    return index.search(query_for(spec, card), constraints or constraints_for(spec), top_k)


def rank_datasets(spec: TaskSpec, catalog_files: tuple[str, ...] = (), top_k: int = 5, card: str = "") -> list[Hit]:
    return catalog_index("dataset", catalog_files).search(
        query_for(spec, card), Constraints(task_type=spec.task_type), top_k
    )


def find_student(name: str) -> StudentChoice:
    """Where the student `name` (a registry id, a Hub id or a local directory) comes from; an unknown
    name fails here, before any teacher call is spent."""
    if (Path(name) / "config.json").exists():
        return StudentChoice(
            id=str(Path(name).resolve()), arch="", available=True, why="local directory given by --student"
        )
    known = {e.id: e for e in registry()}
    if name in known:
        return StudentChoice(id=name, arch=known[name].arch, available=is_available(name), why="given by --student")
    if is_available(name):
        return StudentChoice(id=name, arch="", available=True, why="given by --student (Hugging Face cache)")
    if not offline() and _exists_on_hub(name):
        return StudentChoice(id=name, arch="", why="given by --student (Hugging Face Hub)")
    raise P2MError(
        f"unknown student model '{name}': not a local model directory, not in p2m's registry and not found "
        "on the Hugging Face Hub"
    )


def resolve_student(
    name: str, spec: TaskSpec, max_params: int | None = None, catalog_files: tuple[str, ...] = (), card: str = ""
) -> StudentChoice:
    """The student for `--student NAME` ('auto' or as in `find_student`), checked against the task."""
    wanted = spec.kind.trained_arch
    if name == "auto":
        # Weights already on this machine first: no surprise download of a model ten times the size, and the
        # run works offline. The catalog's best (downloaded) only where none fits; --student picks any.
        on_machine = constraints_for(spec, max_params, trainable_only=True, local_only=True)
        hits = rank_students(spec, on_machine, catalog_files, top_k=1, card=card) or (
            []
            if offline()
            else rank_students(
                spec, constraints_for(spec, max_params, trainable_only=True), catalog_files, top_k=1, card=card
            )
        )
        if not hits:
            raise P2MError(
                f"no {wanted} student passes the constraints{' offline' if offline() else ''}; "
                "pip install 'p2m[embedded]', raise --max-params, or pass --student PATH"
            )
        hit = hits[0]
        return StudentChoice(
            id=hit.id, arch=wanted, available=hit.local or is_available(hit.id), why=hit.why, hit=hit.to_dict()
        )
    choice = find_student(name)
    choice.arch = choice.arch or local_arch(Path(choice.id)) or wanted
    if choice.arch != wanted and choice.arch not in spec.kind.other_trained_archs:
        raise P2MError(
            f"student {name} ({choice.arch}) cannot be trained for {spec.task_type}: that needs a model of kind '{wanted}'"
        )
    return choice


def local_arch(model_dir: Path) -> str:
    """'causal', 'seq2seq' or 'encoder' from a local model directory's config (its architectures' names), '' if none."""
    config = model_dir / "config.json"
    if not config.exists():
        return ""
    names = json.loads(config.read_text()).get("architectures") or []
    if not names:
        return ""
    return (
        "causal"
        if any(n.endswith("ForCausalLM") for n in names)
        else "seq2seq"
        if any(n.endswith("ForConditionalGeneration") for n in names)
        else "encoder"
    )


def shortlist(
    spec: TaskSpec,
    student: str,
    max_params: int | None = None,
    catalog_files: tuple[str, ...] = (),
    card: str = "",
    top_k: int = 10,
) -> tuple[StudentChoice, list[Hit]]:
    """The student a run trains and the catalog's ranked candidates beside it: what the Retrieve stage
    records and what the TUI's Model screen previews, so the two cannot differ."""
    chosen = resolve_student(student, spec, max_params, catalog_files, card)
    return chosen, rank_students(spec, constraints_for(spec, max_params), catalog_files, top_k=top_k, card=card)


def _exists_on_hub(model_id: str) -> bool:
    from huggingface_hub import model_info

    try:
        model_info(model_id, timeout=10)
        return True
    except Exception:  # not found, gated, malformed id or no network: all mean "cannot use it"
        return False
