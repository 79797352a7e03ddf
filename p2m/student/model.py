"""The trained student: how it is saved and run (what differs by kind: student/kinds.py). Training,
evaluation and serving all use this one definition, so the prompt format a student was trained on is
the one it is queried with."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from p2m.device import best_device, count_params, use_bf16
from p2m.files import read_json, write_json
from p2m.spec import TaskSpec
from p2m.student.kinds import CAUSAL, CLASSIFIER, StudentKind, student_kind
from p2m.tasks import kind_of

META_FILE = "p2m.json"
MAX_NEW_TOKENS = 512
MAX_SEQUENCE_TOKENS = 512  # prompt + answer a causal student trains on: a question with its worked solution fits


def answer_budget(tokenizer, answers: list[str]) -> int:
    """New tokens a causal student may generate: half again its longest training answer. A student
    that misses its end token then stops near the answer's length instead of running on."""
    longest = max((len(tokenizer(a, add_special_tokens=False).input_ids) for a in answers), default=0)
    return min(MAX_NEW_TOKENS, max(16, longest * 3 // 2 + 8))


def save_meta(
    model_dir: Path, spec: TaskSpec, base_model: str, method: str, kind: StudentKind, max_new_tokens: int | None = None
) -> None:
    write_json(
        model_dir / META_FILE,
        {
            "task_type": spec.task_type,
            "instruction": spec.instruction,
            "labels": spec.labels,
            "base_model": base_model,
            "method": method,
            "kind": kind.name,
            "prompt_instruction": ""
            if method == "context"
            else spec.instruction,  # what the student was trained to read
            "max_new_tokens": max_new_tokens,
        },
    )


def saved_kind(meta: dict) -> StudentKind:
    """The kind a p2m.json names; students saved before spans existed name none."""
    if meta.get("kind"):
        return student_kind(meta["kind"])
    return CLASSIFIER if kind_of(meta["task_type"]).labelled else CAUSAL


class Student:
    """A saved student directory, loaded for inference (classifier, span extractor or causal LM)."""

    def __init__(self, model_dir: str | Path, meta: dict | None = None):
        from transformers import AutoTokenizer

        self.dir = Path(model_dir)
        self.meta = meta or read_json(self.dir / META_FILE)
        self.kind = saved_kind(self.meta)
        self.tokenizer = AutoTokenizer.from_pretrained(self.dir, padding_side=self.kind.padding_side)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if use_bf16() else torch.float32  # bf16 where training ran in it (CUDA)
        self.model = self.kind.load(self.dir, self.meta, dtype).to(best_device()).eval()

    def untrained(self, max_new_tokens: int) -> Student:
        """A causal student's base model before distillation, asked with the instruction: the student's own
        zero-shot baseline. Evaluate gives it the teacher's answer budget, not the trained student's:
        never shown the short form, it answers at length, and the student's budget would cut it."""
        from p2m.embedded import resolve_model

        return Student(
            resolve_model(self.meta["base_model"]),
            {**self.meta, "prompt_instruction": self.meta["instruction"], "max_new_tokens": max_new_tokens},
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def num_params(self) -> int:
        return count_params(self.model)

    def disk_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.dir.rglob("*") if f.is_file())

    @torch.inference_mode()
    def predict(self, texts: list[str], batch_size: int = 16, max_new_tokens: int | None = None) -> list[str]:
        """Labels (classifier), spans of the inputs (span extractor) or greedy answers, in input order;
        `max_new_tokens` defaults to the budget saved at training. Inputs are batched by length, so a
        batch pads (and computes) little beyond its longest input."""
        max_new_tokens = max_new_tokens or self.meta.get("max_new_tokens") or 64
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        answers: dict[int, str] = {}
        for start in range(0, len(order), batch_size):
            picked = order[start : start + batch_size]
            answers.update(zip(picked, self.kind.predict_batch(self, [texts[i] for i in picked], max_new_tokens)))
        return [answers[i] for i in range(len(texts))]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])

    def latency_ms(self, texts: list[str], limit: int = 32) -> float:
        return mean_latency_ms(self.predict, texts, limit)


def mean_latency_ms(predict, texts: list[str], limit: int = 32) -> float:
    """Mean wall time of one request (batch of one) after a warm-up, as an application calling it would see."""
    sample = texts[:limit]
    if not sample:
        return 0.0
    predict(sample[:1])
    started = time.perf_counter()
    for text in sample:
        predict([text])
    return (time.perf_counter() - started) * 1000 / len(sample)
