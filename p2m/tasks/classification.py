"""Classification: the answer is one of the spec's labels."""

from __future__ import annotations

from typing import TYPE_CHECKING

from p2m import metrics, prompts
from p2m.student.kinds import CLASSIFIER, StudentKind
from p2m.tasks.base import TaskKind, TaskType
from p2m.verifiers.signals import label_from_reply

if TYPE_CHECKING:
    from p2m.spec import TaskSpec


class Classification(TaskKind):
    type = TaskType.CLASSIFICATION
    labelled = True
    min_input_words = 2
    answer_prompt = "classify"
    archs = ("encoder",)
    trained_arch = "encoder"
    hub_category = "text-classification"

    def answer_tokens(self, spec: TaskSpec) -> int:
        return 6  # a label's few

    def answer_messages(self, spec: TaskSpec, shots: list, text: str) -> list[dict]:
        choices = " or ".join([", ".join(spec.labels[:-1]), spec.labels[-1]])
        return prompts.chat(
            self.answer_prompt,
            shots,
            instruction=spec.instruction,
            glossary=spec.label_glossary(),
            labels=", ".join(spec.labels),
            label_choices=choices,
            input=text,
        )

    def read_answer(self, spec: TaskSpec, text: str) -> str:
        """The label the reply names, else the reply itself (scored as wrong)."""
        return label_from_reply(text, spec.labels) or text

    def metric_items(self, predictions: list[str], golds: list[str]) -> dict[str, list[float]]:
        return {"accuracy": metrics.accuracy_items(predictions, golds)}

    def score(self, predictions: list[str], golds: list[str], labels: list[str]) -> dict:
        """Accuracy with its 95% CI, macro-F1 and the scores per class."""
        out = super().score(predictions, golds, labels)
        if golds:
            out["macro_f1"] = round(metrics.macro_f1(predictions, golds, labels), 4)
            out["per_class"] = metrics.per_class(predictions, golds, labels)
        return out

    def student_kind(self, arch: str) -> StudentKind:
        return CLASSIFIER
