"""One home per task kind: `kind_of(task_type)` (or `spec.kind`) answers what the stages used to
decide by testing the task type's name. A new kind is a module here plus its prompts."""

from __future__ import annotations

from p2m.tasks.base import TaskKind, TaskType
from p2m.tasks.classification import Classification
from p2m.tasks.extraction import Extraction
from p2m.tasks.generation import Generation
from p2m.tasks.math import Math

KINDS: dict[TaskType, TaskKind] = {kind.type: kind for kind in (Classification(), Generation(), Extraction(), Math())}


def kind_of(task_type: str) -> TaskKind:
    """The kind of a task type ('classification', TaskType.MATH, ...); ValueError for an unknown one."""
    return KINDS[TaskType(task_type)]


__all__ = ["KINDS", "TaskKind", "TaskType", "kind_of"]
