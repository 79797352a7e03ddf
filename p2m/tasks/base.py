"""What every task kind decides, with the defaults of a free-text task.

A kind is the one place that knows how its task is asked, answered, checked and scored: the stages
ask it (`spec.kind`) instead of testing the task type's name. The defaults here are those of a task
whose answer is free text (`generation`); the other kinds override what differs.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import TYPE_CHECKING, ClassVar

from p2m import metrics, prompts
from p2m.student.kinds import CAUSAL, StudentKind
from p2m.verifiers.signals import answer_kind

if TYPE_CHECKING:
    from p2m.spec import Example, TaskSpec

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # Python 3.10: a str Enum that prints as its value

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str(self.value)


class TaskType(StrEnum):
    """The task types the parser can produce (spec.json's `task_type`)."""

    CLASSIFICATION = "classification"
    GENERATION = "generation"
    EXTRACTION = "extraction"
    MATH = "math"


# One input of a few sentences. Longer ones cost the verifiers' likelihood passes in proportion (on 2 CPU
# cores the 1.5B teacher's 96-token inputs took the main job from 6 to 14 minutes) and add little.
INPUT_TOKENS = 48


class TaskKind:
    """A task kind: how its inputs are written, how the teacher is asked and read, which answers a
    student can learn, how answers are scored and which student architectures fit."""

    type: ClassVar[TaskType] = TaskType.GENERATION
    labelled: ClassVar[bool] = False  # answers are one of the spec's labels
    min_input_words: ClassVar[int] = 1  # an input with fewer words is degenerate
    input_prompt: ClassVar[str] = "generate_input"  # the prompt a (label-free) input is written from
    input_styles: ClassVar[str] = "styles"  # the style attributes it is written with
    input_tokens: ClassVar[int] = INPUT_TOKENS  # the teacher's budget for one input
    passage_inputs: ClassVar[bool] = False  # an input is a passage: it keeps its lines and marked parts
    answer_prompt: ClassVar[str] = "answer"  # the prompt the teacher answers an input with
    checks_format: ClassVar[bool] = True  # a candidate answer is scored by its likeness to the examples' answers
    answers_from_input: ClassVar[bool] = False  # an answer is copied from its input
    learnable: ClassVar[str] = "is an answer"  # what an answer a student can learn is (learnable_answers)
    archs: ClassVar[tuple[str, ...]] = ("causal", "seq2seq")  # architectures that can be trained for it
    trained_arch: ClassVar[str] = "causal"  # the architecture an automatic choice trains
    other_trained_archs: ClassVar[tuple[str, ...]] = ()  # others that train when the user picks one
    hub_category: ClassVar[str] = "text-generation"  # the Hub's task category of its dataset and model

    def shots(self, spec: TaskSpec, text: str) -> list[Example]:
        """The few-shot examples for asking about `text`: the first four with an answer, less `text` itself."""
        return [e for e in spec.examples[:4] if e.output and e.input != text]

    def answer_tokens(self, spec: TaskSpec) -> int:
        """The new tokens the teacher may write for one answer: about three times the longest example
        answer (counted in characters, ~3 to a token)."""
        longest = max((len(e.output) for e in spec.examples), default=0)
        return min(256, max(24, longest)) if longest else 128

    def answer_messages(self, spec: TaskSpec, shots: list, text: str) -> list[dict]:
        """The chat that asks the teacher to answer `text` after `shots`."""
        return prompts.chat(self.answer_prompt, shots, instruction=spec.instruction, input=text)

    def read_answer(self, spec: TaskSpec, text: str) -> str:
        """The answer in the teacher's reply: its first line."""
        return text.split("\n")[0].strip()

    def answer_kind(self, spec: TaskSpec) -> str:
        """How two answers are compared (signals.answer_kind), read from the instruction and examples."""
        return answer_kind(spec.instruction, [(e.input, e.output) for e in spec.examples if e.output])

    def learnable_answers(self, spec: TaskSpec, row: dict, answers: list[str]) -> list[str]:
        """The answers a student can learn (repeats kept: they are the self-consistency vote): all of them."""
        return answers

    def metric_items(self, predictions: list[str], golds: list[str]) -> dict[str, list[float]]:
        """Per-item scores of each metric (the main one, `metrics.main_metric`, among them): exact match
        and chrF++, and JSON validity where every gold answer is JSON."""
        items = {
            "exact_match": metrics.accuracy_items(predictions, golds),
            "chrf": metrics.chrf_items(predictions, golds),
        }
        if golds and all(metrics.json_valid_items(golds)):
            items["json_valid"] = metrics.json_valid_items(predictions)
        return items

    def score(self, predictions: list[str], golds: list[str], labels: list[str]) -> dict:
        """Each metric as a mean with its 95% CI, and n."""
        if not golds:
            return {"n": 0}
        return {"n": len(golds), **metrics.summaries(self.metric_items(predictions, golds))}

    def student_kind(self, arch: str) -> StudentKind:
        """What is trained from a student of architecture `arch`: a causal LM."""
        return CAUSAL
