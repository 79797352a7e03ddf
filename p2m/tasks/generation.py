"""Generation: the answer is free text, scored by exact match and chrF++ (every default of TaskKind)."""

from __future__ import annotations

from p2m.tasks.base import TaskKind, TaskType


class Generation(TaskKind):
    type = TaskType.GENERATION
