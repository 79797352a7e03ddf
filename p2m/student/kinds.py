"""One home per student kind: what is trained from a base model, how it is loaded and asked, and which
export serves it. A kind's `name` is what a student's p2m.json stores (`kind`).

Train, evaluate, serve and export ask the kind (`student.kind.generates`, `.export_format`, ...)
instead of comparing its name. The heavy libraries (torch, transformers) are imported when a student
is loaded, so `p2m.tasks` can name the kind a task trains without loading them."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Protocol

MAX_INPUT_TOKENS = 256  # a classifier reads at most this much of an input


class StudentKind:
    """What a trained student is: how it loads, answers a batch of inputs, and is exported."""

    name: ClassVar[str]
    classifies: ClassVar[bool] = False  # answers with one of the run's labels (POST /v1/classify)
    generates: ClassVar[bool] = False  # writes its answer token by token: an answer budget, a base model to compare
    methods: ClassVar[tuple[str, ...]] = ("sft",)  # the --method values that train it
    export_format: ClassVar[str] = "onnx"  # `p2m export --format` that serves it without torch
    # An encoder reads absolute positions from the first token, so its inputs are padded on the right,
    # as in training; a causal LM generates after the prompt, so its are padded on the left.
    padding_side: ClassVar[str] = "right"

    def load(self, model_dir: Path, meta: dict, dtype):
        """The torch model saved in `model_dir`."""
        raise NotImplementedError

    def predict_batch(self, student, batch: list[str], max_new_tokens: int) -> list[str]:
        """`student`'s answers to one batch of inputs, in order."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.name


class Classifier(StudentKind):
    """A sentence encoder with a linear head over the labels (student/classifier.py)."""

    name = "classifier"
    classifies = True
    methods = ("sft", "soft-kd")

    def load(self, model_dir: Path, meta: dict, dtype):
        from p2m.student.classifier import EmbeddingClassifier

        return EmbeddingClassifier.load(model_dir, len(meta["labels"]), dtype)

    def predict_batch(self, student, batch: list[str], max_new_tokens: int) -> list[str]:
        enc = student.tokenizer(batch, padding=True, truncation=True, max_length=MAX_INPUT_TOKENS, return_tensors="pt")
        enc = enc.to(student.device)
        logits = student.model(enc["input_ids"], enc["attention_mask"]).logits
        return [student.meta["labels"][i] for i in logits.argmax(-1).tolist()]


class Span(StudentKind):
    """An encoder with a span head that copies its answer out of the passage (student/extractive.py)."""

    name = "span"

    def load(self, model_dir: Path, meta: dict, dtype):
        from transformers import AutoModelForQuestionAnswering

        return AutoModelForQuestionAnswering.from_pretrained(model_dir, dtype=dtype)

    def predict_batch(self, student, batch: list[str], max_new_tokens: int) -> list[str]:
        from p2m.student.extractive import predict_spans

        return predict_spans(student.model, student.tokenizer, batch, student.meta["instruction"], student.device)


class Causal(StudentKind):
    """A causal LM that answers in its chat format, greedily, within its answer budget."""

    name = "causal"
    generates = True
    methods = ("sft", "logit-kd", "context", "wmss")
    export_format = "gguf"
    padding_side = "left"

    def load(self, model_dir: Path, meta: dict, dtype):
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)

    def predict_batch(self, student, batch: list[str], max_new_tokens: int) -> list[str]:
        instruction = student.meta.get(
            "prompt_instruction", student.meta["instruction"]
        )  # "" after context distillation
        tokenizer = student.tokenizer
        turns = [[{"role": "user", "content": student_prompt(instruction, text)}] for text in batch]
        prompts = [tokenizer.apply_chat_template(t, add_generation_prompt=True, tokenize=False) for t in turns]
        enc = tokenizer(prompts, padding=True, return_tensors="pt", add_special_tokens=False).to(student.device)
        out = student.model.generate(
            **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
        return [
            s.strip() for s in tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        ]


class Predictor(Protocol):
    """What serving and timing ask of a student, whichever runtime answers: torch (`Student`), ONNX
    Runtime (`OnnxStudent`) or llama.cpp (`GgufStudent`)."""

    kind: StudentKind

    def predict(self, texts: list[str]) -> list[str]: ...

    def count_tokens(self, text: str) -> int: ...


def student_prompt(instruction: str, text: str) -> str:
    """The user turn a causal student reads; without an instruction (context distillation) the bare input."""
    return f"{instruction}\n\nInput: {text}" if instruction else text


CLASSIFIER, SPAN, CAUSAL = Classifier(), Span(), Causal()
STUDENT_KINDS = {kind.name: kind for kind in (CLASSIFIER, SPAN, CAUSAL)}


def student_kind(name: str) -> StudentKind:
    """The kind a student's p2m.json names."""
    return STUDENT_KINDS[name]
