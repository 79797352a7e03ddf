"""Math: the answer is a worked solution that marks its final number (`#### N`, as GSM8K does).

The teacher solves without the user's examples as shots: a small chat model copies a shown solution's
length, and one-line examples halve its accuracy (GSM8K, 40 items outside the benchmark's: 0.25 with
two, 0.50 without)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from p2m import metrics
from p2m.tasks.base import TaskKind, TaskType
from p2m.verifiers.signals import normalize_answer, worked_solution

if TYPE_CHECKING:
    from p2m.spec import Example, TaskSpec

SOLUTION_TOKENS = 320  # a worked grade-school solution (GSM8K's reference ones: ~100 tokens) with room to spare
# A math word problem: GSM8K's average 46 words (~60 tokens), 1 in 100 over 100 words. At 48 tokens the
# teacher's problems lost their question to the cut (11 of 64 in a GSM8K run).
PROBLEM_TOKENS = 128


class Math(TaskKind):
    type = TaskType.MATH
    # A problem states every quantity, asks for one number and takes a few steps (prose styles such as
    # "make it a little ambiguous" made problems unanswerable).
    input_prompt = "generate_problem"
    input_styles = "math_styles"
    input_tokens = PROBLEM_TOKENS
    answer_prompt = "solve"  # distilling step by step: reasoning, then the marked final number
    checks_format = False  # a kept solution's format is fixed (worked_solution), its length is the problem's
    learnable = "marks a number half of them reach"

    def shots(self, spec: TaskSpec, text: str) -> list[Example]:
        return []  # the solve prompt fixes the answer's format, the problem fixes its length

    def answer_tokens(self, spec: TaskSpec) -> int:
        return SOLUTION_TOKENS

    def read_answer(self, spec: TaskSpec, text: str) -> str:
        return text.strip()  # a worked solution: its final number is scored

    def answer_kind(self, spec: TaskSpec) -> str:
        return "number"

    def learnable_answers(self, spec: TaskSpec, row: dict, answers: list[str]) -> list[str]:
        """Worked solutions that mark their final number, those that reach the number the teacher's
        solutions agree on (majority_solutions)."""
        return majority_solutions([solution for solution in map(worked_solution, answers) if solution], len(answers))

    def metric_items(self, predictions: list[str], golds: list[str]) -> dict[str, list[float]]:
        return {"exact_match": metrics.numeric_exact_items(predictions, golds)}


def majority_solutions(solutions: list[str], asked: int) -> list[str]:
    """The solutions that reach the number at least half of the `asked` ones reach, no other number as
    many; none otherwise. A problem the teacher's solutions disagree on is often unanswerable or
    misread, and whichever path were chosen is then as likely wrong (a GSM8K run kept one-step and
    unanswerable problems)."""
    numbers = [normalize_answer(s, "number") for s in solutions]
    (top, votes), *rest = Counter(numbers).most_common(2) or [(None, 0)]
    if 2 * votes < asked or (rest and rest[0][1] == votes):
        return []
    return [s for s, n in zip(solutions, numbers) if n == top]
