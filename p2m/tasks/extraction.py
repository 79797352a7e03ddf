"""Extraction: the answer is a span copied from the input's passage.

An input is "Context: <passage> Question: <question>" in either order (reading comprehension); an input
without those markers is the passage itself and the task's instruction is the question ("Extract the
company name" over an email). The helpers that read an input's parts live here: synthesis, verification
and the span student all read inputs this way."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from p2m import metrics
from p2m.tasks.base import TaskKind, TaskType

if TYPE_CHECKING:
    from p2m.spec import TaskSpec

# An extraction input without marked parts is itself the passage (an email, a paragraph: ~150 tokens);
# reading-comprehension inputs are built by stages/passages.py.
PASSAGE_TOKENS = 220
_QUESTION = re.compile(r"\bquestion\s*:\s*", re.I)
_PASSAGE = re.compile(r"\b(?:context|passage|paragraph|text|article)\s*:\s*", re.I)
_EDGE = " \t\n.,;:!?\"'`“”‘’()[]"


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

    def student_kind(self, arch: str) -> str:
        return "span" if arch == "encoder" else "causal"


def split_input(text: str, instruction: str) -> tuple[str, str]:
    """(question, passage): the marked parts of "Context: ... Question: ..." (either order), else the
    instruction as the question and the whole input as the passage."""
    question, passage = _QUESTION.search(text), _PASSAGE.search(text)
    if not question or not passage:
        return instruction, text.strip()
    if passage.start() < question.start():
        return text[question.end() :].strip(), text[passage.end() : question.start()].strip()
    return text[question.end() : passage.start()].strip(), text[passage.end() :].strip()


def has_passage_and_question(text: str) -> bool:
    """Whether an input marks both parts; a generated QA input missing one cannot be answered by a span."""
    return bool(_QUESTION.search(text) and _PASSAGE.search(text))


def question_comes_first(text: str) -> bool:
    """Whether a marked input puts its question before its passage."""
    question, passage = _QUESTION.search(text), _PASSAGE.search(text)
    return bool(question and passage and question.start() < passage.start())


def span_in_passage(answer: str, passage: str) -> str | None:
    """The passage's own text of `answer`: exact, else without edge punctuation, else ignoring case;
    None when the answer is not a span of the passage."""
    whole, bare = answer.strip(), answer.strip(_EDGE)
    for candidate in (whole, bare):
        if candidate and candidate in passage:
            return candidate
    for candidate in (bare, whole):
        start = passage.lower().find(candidate.lower()) if candidate else -1
        if start >= 0:
            return passage[start : start + len(candidate)]
    return None
