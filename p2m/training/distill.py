"""Distillation losses for the student, each a `transformers.Trainer` whose `compute_loss` is the method.

- `soft_target_trainer` (classification, `--method soft-kd`): KL to the teacher's label distribution.
- `LogitKDTrainer` (causal students, `--method logit-kd`): token-level generalized JSD to a teacher that
  shares the tokenizer, with TRL's GKD loss (`GKDTrainer.generalized_jsd_loss`).
- `WMSSTrainer` (`--method wmss`, p2m/training/wmss.py picks its data): CE on logits mixed with a weak checkpoint.

Causal data comes from `CompletionCollator`: chat-templated prompt ids followed by the completion's ids,
the loss on the completion only. The completion is tokenized on its own, so it is the same ids after
the student's prompt and after the teacher's: the two views align token for token.
"""

from __future__ import annotations

import random
import warnings

import torch
import torch.nn.functional as F
from transformers import Trainer


def soft_target_trainer(alpha: float, temperature: float):
    """A `Trainer` whose loss mixes CE on the hard target with KL to the teacher's label distribution
    (Hinton et al. 2015): alpha * T^2 * KL(teacher^(1/T) || student(logits / T)) + (1 - alpha) * CE.
    The teacher distribution is sharpened or flattened by the same temperature, renormalized."""

    class SoftTargetTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            soft = inputs.pop("soft_targets")
            outputs = model(**inputs)
            logits = outputs.logits
            ce = F.cross_entropy(logits, inputs["labels"])
            target = soft.clamp_min(1e-8) ** (1 / temperature)
            target = target / target.sum(-1, keepdim=True)
            kl = F.kl_div(F.log_softmax(logits / temperature, -1), target, reduction="batchmean") * temperature**2
            loss = alpha * kl + (1 - alpha) * ce
            return (loss, outputs) if return_outputs else loss

    return SoftTargetTrainer


def prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)[
        "input_ids"
    ]


def completion_ids(tokenizer, text: str) -> list[int]:
    """The answer's ids ending with the end-of-turn token, as the chat template closes an assistant turn."""
    return tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def pad(sequences: list[list[int]], value: int, left: bool = False) -> torch.Tensor:
    width = max(len(s) for s in sequences)
    return torch.tensor([[value] * (width - len(s)) + s if left else s + [value] * (width - len(s)) for s in sequences])


def batch_view(prompts: list[list[int]], completions: list[list[int]], pad_id: int, prefix: str = "") -> dict:
    """input_ids / attention_mask / labels (-100 on prompt and padding) for prompt + completion rows."""
    ids = [p + c for p, c in zip(prompts, completions)]
    labels = [[-100] * len(p) + c for p, c in zip(prompts, completions)]
    return {
        f"{prefix}input_ids": pad(ids, pad_id),
        f"{prefix}attention_mask": pad([[1] * len(s) for s in ids], 0),
        f"{prefix}labels": pad(labels, -100),
    }


class CompletionCollator:
    """Rows of {prompt (messages), completion (text)} and, for logit KD, {teacher_prompt (messages)}.
    Also returns the left-padded prompts and their lengths, which on-policy steps generate from (the
    pad token may be the end-of-turn token, so padding is told apart by length, not by id)."""

    def __init__(self, tokenizer, max_length: int = 256):
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, rows: list[dict]) -> dict:
        tok = self.tokenizer
        completions = [completion_ids(tok, r["completion"])[: self.max_length // 2] for r in rows]
        prompts = [prompt_ids(tok, r["prompt"])[-(self.max_length - len(c)) :] for r, c in zip(rows, completions)]
        batch = batch_view(prompts, completions, tok.pad_token_id)
        batch |= {
            "prompt_ids": pad(prompts, tok.pad_token_id, left=True),
            "prompt_lengths": torch.tensor([len(p) for p in prompts]),
        }
        if "teacher_prompt" in rows[0]:
            teacher = [prompt_ids(tok, r["teacher_prompt"])[-(4 * self.max_length) :] for r in rows]
            batch |= batch_view(teacher, completions, tok.pad_token_id, prefix="teacher_")
            batch |= {
                "teacher_prompt_ids": pad(teacher, tok.pad_token_id, left=True),
                "teacher_prompt_lengths": torch.tensor([len(p) for p in teacher]),
            }
        return batch


def unpadded(prompts: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    return [row[len(row) - n :] for row, n in zip(prompts.tolist(), lengths.tolist())]


def completion_logits(
    model, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """(completion tokens in the batch, vocab): the logits that predict each completion token, row by row."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]
    return logits[labels[:, 1:] != -100]


class LogitKDTrainer(Trainer):
    """Generalized knowledge distillation (Agarwal et al. 2024, TRL's GKD): per completion token,
    alpha * GJSD_beta(teacher || student) + (1 - alpha) * CE on the verified target; beta 0 is forward
    KL, 1 reverse KL. With probability `on_policy` a step's completions are sampled from the student
    instead (the paper's lambda), and the teacher scores those.

    Choice: the teacher reads the completion after its own context (instruction and few-shot examples,
    the prompt it answered during synthesis) while the student reads its short prompt. That is context
    distillation at the logit level, and it is what makes KD informative when the student starts as a
    copy of the teacher (the embedded SmolLM2 pair): on the same prompt their logits would be equal and
    the divergence zero. TRL's `GKDTrainer` feeds one sequence to both models, so its loss function is
    used, not its training step."""

    def __init__(
        self, *args, teacher_model, alpha: float, beta: float, on_policy: float, temperature: float = 1.0, **kwargs
    ):
        with warnings.catch_warnings():  # trl.experimental on purpose: GKD's loss lives only there (pyproject)
            warnings.filterwarnings("ignore", message="You are importing from 'trl.experimental'")
            from trl.experimental.gkd import GKDTrainer

        super().__init__(*args, **kwargs)
        self.jsd = GKDTrainer.generalized_jsd_loss
        self.teacher_model = teacher_model.to(self.args.device).eval()
        self.alpha, self.beta, self.on_policy, self.temperature = alpha, beta, on_policy, temperature
        self.rng = random.Random(self.args.seed)
        self.model_accepts_loss_kwargs = False  # our loss is a per-batch mean: the Trainer scales it for accumulation

    def training_step(self, model, inputs, num_items_in_batch=None):
        if self.on_policy and self.rng.random() < self.on_policy:
            inputs = self.sample_from_student(model, self._prepare_inputs(inputs))
        return super().training_step(model, inputs, num_items_in_batch)

    @torch.no_grad()
    def sample_from_student(self, model, inputs: dict) -> dict:
        tok = self.processing_class
        prompts = inputs["prompt_ids"]
        width = prompts.shape[1]
        mask = (torch.arange(width, device=prompts.device) >= width - inputs["prompt_lengths"][:, None]).long()
        model.eval()
        longest = int((inputs["labels"] != -100).sum(1).max())
        out = self.accelerator.unwrap_model(model).generate(
            input_ids=prompts,
            attention_mask=mask,
            max_new_tokens=longest,
            do_sample=True,
            temperature=1.0,
            top_k=0,
            pad_token_id=tok.pad_token_id,
        )
        model.train()
        completions = []
        for row in out[:, width:].tolist():
            end = row.index(tok.eos_token_id) + 1 if tok.eos_token_id in row else len(row)
            completions.append(row[:end] or [tok.eos_token_id])
        device = inputs["input_ids"].device
        new = batch_view(unpadded(prompts, inputs["prompt_lengths"]), completions, tok.pad_token_id) | batch_view(
            unpadded(inputs["teacher_prompt_ids"], inputs["teacher_prompt_lengths"]),
            completions,
            tok.pad_token_id,
            prefix="teacher_",
        )
        return {**inputs, **{k: v.to(device) for k, v in new.items()}}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        student = completion_logits(model, inputs["input_ids"], inputs["attention_mask"], inputs["labels"])
        with torch.no_grad():
            teacher = completion_logits(
                self.teacher_model,
                inputs["teacher_input_ids"],
                inputs["teacher_attention_mask"],
                inputs["teacher_labels"],
            )
        targets = inputs["labels"][:, 1:][inputs["labels"][:, 1:] != -100]
        jsd = self.jsd(student, teacher.to(student.dtype), beta=self.beta, temperature=self.temperature)
        loss = self.alpha * jsd + (1 - self.alpha) * F.cross_entropy(student.float(), targets)
        return (loss, {"logits": student}) if return_outputs else loss


class WMSSTrainer(Trainer):
    """Weak-driven joint training (WMSS, arXiv 2602.08222): CE on z = (1 - lam) * z_weak + lam * z_strong,
    where the strong model is the SFT student being trained and the weak one its base checkpoint.

    Choice: the weak model is held fixed (no gradient). Its softer distribution keeps probability on the
    near-miss tokens the strong model has pushed down, so the mixed CE keeps a gradient on them after
    plain SFT has saturated; training the weak copy too would sharpen it and remove that signal. The
    strong model alone is saved: the same architecture as the base, no cost at inference."""

    def __init__(self, *args, weak_model, lam: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.weak_model = weak_model.to(self.args.device).eval()
        self.lam = lam
        self.model_accepts_loss_kwargs = False  # a per-batch mean, as in LogitKDTrainer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        strong = completion_logits(model, inputs["input_ids"], inputs["attention_mask"], inputs["labels"])
        with torch.no_grad():
            weak = completion_logits(self.weak_model, inputs["input_ids"], inputs["attention_mask"], inputs["labels"])
        targets = inputs["labels"][:, 1:][inputs["labels"][:, 1:] != -100]
        mixed = (1 - self.lam) * weak.to(strong.dtype) + self.lam * strong
        loss = F.cross_entropy(mixed.float(), targets)
        return (loss, {"logits": strong}) if return_outputs else loss
