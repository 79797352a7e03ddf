"""Extraction: the answer is a span copied from the input's passage (how an input reads: tasks/spans.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from p2m import metrics
from p2m.student.kinds import CAUSAL, SPAN, StudentKind
from p2m.tasks.base import TaskKind, TaskType
from p2m.tasks.spans import span_in_passage, split_input

if TYPE_CHECKING:
    from p2m.spec import TaskSpec

# An extraction input without marked parts is itself the passage (an email, a paragraph: ~150 tokens);
# reading-comprehension inputs are built by stages/passages.py.
PASSAGE_TOKENS = 220


class Extraction(TaskKind):
    type = TaskType.EXTRACTION
    input_tokens = PASSAGE_TOKENS
    passage_inputs = True
    answers_from_input = True
    learnable = "is a span of the passage"
    archs = ("encoder", "causal", "seq2seq")
    # An automatic choice takes an encoder's span head; a causal student, given by --student, still trains.
    trained_arch = "encoder"
    other_trained_archs = ("causal",)

    def learnable_answers(self, spec: TaskSpec, row: dict, answers: list[str]) -> list[str]:
        """Spans of the input's passage, in the passage's own words, the question writer's span (reading
        comprehension) one more vote after the teacher's own."""
        passage = split_input(row["input"], spec.instruction)[1]
        written = [row["writer_answer"]] if row.get("writer_answer") else []
        return [span for span in (span_in_passage(a, passage) for a in answers + written) if span]

    def metric_items(self, predictions: list[str], golds: list[str]) -> dict[str, list[float]]:
        return {
            "exact_match": metrics.squad_exact_items(predictions, golds),
            "f1": metrics.squad_f1_items(predictions, golds),
        }

    def student_kind(self, arch: str) -> StudentKind:
        return SPAN if arch == "encoder" else CAUSAL
