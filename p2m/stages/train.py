"""Train: fine-tune the student on the verified training set and save it to model/.

Classification: an encoder with a fresh classification head (transformers `Trainer`). Text output: a
causal LM with TRL's `SFTTrainer` on prompt/completion pairs (loss on the completion only). CUDA with
bf16 where the card supports it, else CPU.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

from transformers import PrinterCallback, TrainerCallback

from p2m.device import use_bf16
from p2m.embedded import resolve_model
from p2m.errors import P2MError
from p2m.files import read_json, read_jsonl, write_json
from p2m.pipeline import RunContext, Stage
from p2m.progress import Progress
from p2m.spec import TaskSpec
from p2m.student import save_meta, student_prompt


class ProgressCallback(TrainerCallback):
    """Forwards trainer steps and losses to the pipeline's progress sink."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def on_train_begin(self, args, state, control, **kwargs):
        self.progress.task("training", total=state.max_steps)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.progress.advance(0, loss=round(logs["loss"], 4))

    def on_step_end(self, args, state, control, **kwargs):
        self.progress.advance(1)


def default_epochs(n_examples: int, task_type: str) -> float:
    """Few examples need more passes; a causal LM (already instruction-tuned, and ~4 s a step on two
    CPU cores) gets 3, so a default run trains in a few minutes."""
    if task_type != "classification":
        return 3
    return 10 if n_examples < 100 else 5 if n_examples < 1000 else 3


def common_args(ctx: RunContext, n_examples: int, epochs: float, batch_size: int, learning_rate: float) -> dict:
    total_steps = math.ceil(math.ceil(n_examples / batch_size) * epochs)
    return dict(
        output_dir=str(ctx.path("train/work")),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=0.1,
        weight_decay=0.01,
        logging_steps=1,
        save_strategy="steps",  # a few checkpoints per run, so an interrupted run resumes
        save_steps=max(1, total_steps // 4),
        save_total_limit=1,
        report_to=[],
        seed=ctx.config.seed,
        bf16=use_bf16(),
        disable_tqdm=True,
    )


def soft_target_trainer(alpha: float, temperature: float):
    """A `Trainer` whose loss mixes CE on the hard target with KL to the teacher's label distribution
    (Hinton et al. 2015): alpha * T^2 * KL(teacher^(1/T) || student(logits / T)) + (1 - alpha) * CE.
    The teacher distribution is sharpened or flattened by the same temperature, renormalized."""
    import torch.nn.functional as F
    from transformers import Trainer

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


def train_classifier(ctx: RunContext, spec: TaskSpec, base: str, rows: list[dict], epochs: float):
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments

    label2id = {label: i for i, label in enumerate(spec.labels)}
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(spec.labels), id2label=dict(enumerate(spec.labels)), label2id=label2id,
        ignore_mismatched_sizes=True,  # a retrieved student may come with another task's head
    )
    soft = ctx.config.method == "soft-kd"
    data = Dataset.from_list([
        {"text": r["input"], "label": label2id[r["output"]],
         **({"soft_targets": [r["teacher_distribution"][l] for l in spec.labels]} if soft else {})}
        for r in rows
    ])
    data = data.map(lambda b: tokenizer(b["text"], truncation=True, max_length=256), batched=True, remove_columns=["text"])
    args = TrainingArguments(**common_args(ctx, len(rows), epochs, batch_size=16, learning_rate=1e-4), remove_unused_columns=not soft)
    trainer_class = soft_target_trainer(ctx.config.kd_alpha, ctx.config.kd_temperature) if soft else Trainer
    trainer = trainer_class(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                            data_collator=DataCollatorWithPadding(tokenizer), callbacks=[ProgressCallback(ctx.progress)])
    return trainer, tokenizer


def train_generator(ctx: RunContext, spec: TaskSpec, base: str, rows: list[dict], epochs: float):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(base)
    data = Dataset.from_list([
        {"prompt": [{"role": "user", "content": student_prompt(spec.instruction, r["input"])}],
         "completion": [{"role": "assistant", "content": r["output"]}]}
        for r in rows
    ])
    args = SFTConfig(**common_args(ctx, len(rows), epochs, batch_size=8, learning_rate=5e-5), max_length=256, completion_only_loss=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer, callbacks=[ProgressCallback(ctx.progress)])
    return trainer, tokenizer


def resumable_checkpoint(ctx: RunContext) -> str | None:
    """The last checkpoint of an interrupted training with the same inputs; stale work is cleared."""
    from transformers.trainer_utils import get_last_checkpoint

    work = ctx.path("train/work")
    marker = work / "fingerprint"
    if marker.exists() and marker.read_text() == ctx.fingerprint:
        return get_last_checkpoint(str(work))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    marker.write_text(ctx.fingerprint)
    return None


class Train(Stage):
    name = "train"
    config_fields = ("epochs", "seed", "method", "kd_alpha", "kd_temperature")
    outputs = ("model/p2m.json", "train/metrics.json")

    def run(self, ctx: RunContext) -> None:
        spec = ctx.spec()
        student = read_json(ctx.path("student.json"))["chosen"]["id"]
        rows = read_jsonl(ctx.path("data/train.jsonl"))
        if not rows:
            raise P2MError("no synthetic example passed verification, so there is nothing to train on; "
                           "raise --num-examples or lower --keep-threshold")
        if ctx.config.method == "soft-kd" and spec.task_type != "classification":
            raise P2MError("--method soft-kd needs a classification task (label distributions); use --method sft")
        epochs = ctx.config.epochs or default_epochs(len(rows), spec.task_type)
        ctx.progress.task(f"loading {student}", total=None)
        build = train_classifier if spec.task_type == "classification" else train_generator
        checkpoint = resumable_checkpoint(ctx)
        trainer, tokenizer = build(ctx, spec, resolve_model(student), rows, epochs)
        trainer.remove_callback(PrinterCallback)  # losses go to our progress sink, not stdout
        if checkpoint:
            ctx.progress.log(f"train: resuming from {Path(checkpoint).name}")
        started = time.perf_counter()
        result = trainer.train(resume_from_checkpoint=checkpoint)
        seconds = time.perf_counter() - started
        model_dir = ctx.path("model")
        shutil.rmtree(model_dir, ignore_errors=True)
        trainer.save_model(str(model_dir))
        tokenizer.save_pretrained(str(model_dir))
        save_meta(model_dir, spec, student)
        shutil.rmtree(ctx.path("train/work"), ignore_errors=True)
        losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        write_json(ctx.path("train/metrics.json"), {
            "base_model": student, "examples": len(rows), "epochs": epochs, "steps": result.global_step,
            "train_loss": round(result.training_loss, 4), "seconds": round(seconds, 2),
            "resumed_from": Path(checkpoint).name if checkpoint else None, "method": ctx.config.method,
            "samples_per_s": round(result.metrics.get("train_samples_per_second", 0.0), 2), "loss_curve": losses,
            "device": str(trainer.args.device), "bf16": trainer.args.bf16,
        })
