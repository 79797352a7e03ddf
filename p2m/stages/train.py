"""Train: fine-tune or distil the student on the verified training set and save it to model/.

Classification: a sentence encoder's mean-pooled embedding and a linear head (p2m/student/classifier.py),
the head fitted as a probe on the frozen embeddings; `--classifier-tuning full` then fine-tunes both
(transformers `Trainer`; `soft-kd` adds KL to the teacher's label distribution). Extraction with an
encoder student: a span head fine-tuned on the passages' answer spans (p2m/student/extractive.py).
Text output: a causal LM, by `--method`:
- `sft` and `context`: TRL's `SFTTrainer` on prompt/completion pairs (loss on the completion only);
  `context` drops the instruction from the student's prompt, so it learns input -> answer alone;
- `logit-kd`: `p2m.distill.LogitKDTrainer`, token-level GKD to the local teacher's logits;
- `wmss`: SFT, then weak-driven joint training on entropy-selected examples (p2m/training/wmss.py).
LoRA through peft (`--lora`; QLoRA on CUDA), early stopping on a validation split, checkpoints a few
times a run (an interrupted run resumes from the last one). CUDA with bf16 where the card supports
it, else CPU; under `accelerate launch` the trainers run data-parallel and only rank 0 writes.
"""

from __future__ import annotations

import errno
import math
import random
import shutil
import time
import warnings
from pathlib import Path

from transformers import EarlyStoppingCallback, PrinterCallback, TrainerCallback, set_seed

from p2m import run_paths
from p2m.device import best_device, count_params, use_bf16
from p2m.embedded import resolve_model
from p2m.errors import P2MError
from p2m.files import read_json, read_jsonl, write_json
from p2m.progress import Progress
from p2m.spec import TaskSpec
from p2m.stages.base import RunContext, Stage
from p2m.student.classifier import EmbeddingClassifier, embed_texts, fit_head, label_prototypes
from p2m.student.extractive import training_features
from p2m.student.kinds import MAX_INPUT_TOKENS, StudentKind, student_prompt
from p2m.student.model import MAX_SEQUENCE_TOKENS, answer_budget, save_meta
from p2m.teacher.answers import teacher_requests
from p2m.training.distill import CompletionCollator, LogitKDTrainer, WMSSTrainer, soft_target_trainer

MIN_ROWS_FOR_VALIDATION = 200  # a validation split of under 20 rows picks a checkpoint by noise
LORA_ABOVE_PARAMS = 1e9  # full fine-tuning with AdamW needs ~16 bytes a parameter: LoRA above this size
# Fine-tuned whole on ~100 teacher solutions, Qwen2.5-Coder-0.5B lost what it could do (GSM8K dev EM 0.283 -> 0.000);
# through LoRA it kept most of it (0.233-0.250). SmolLM2-135M, the README's text rows' student, stays fine-tuned whole.
CAUSAL_LORA_ABOVE_PARAMS = 3e8
SMALL_ENCODER_PARAMS = 50e6
GENERATOR_EPOCHS = 3  # a causal LM is instruction-tuned already, and seconds a step on two CPU cores
GENERATOR_LEARNING_RATE = 5e-5
ADAPTER_LEARNING_RATE = (
    2e-4  # LoRA's B starts at zero: at 5e-5 a Qwen2.5-0.5B student's answers barely moved in 14 steps
)


class ProgressCallback(TrainerCallback):
    """Forwards trainer steps and losses to the pipeline's progress sink."""

    def __init__(self, progress: Progress, description: str = "training"):
        self.progress, self.description = progress, description

    def on_train_begin(self, args, state, control, **kwargs):
        self.progress.task(self.description, total=state.max_steps)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.progress.advance(0, loss=round(logs["loss"], 4))

    def on_step_end(self, args, state, control, **kwargs):
        self.progress.advance(1)


def classifier_schedule(
    n_examples: int, params: int, epochs: float = 0, learning_rate: float = 0
) -> tuple[float, float]:
    """(epochs, learning rate) for an encoder; either > 0 is the user's. A small encoder (MiniLM) needs
    many passes at a large step on a few examples; a base-sized one (MPNet) fits them in a few passes at
    a smaller step (benchmarks/main_job.py measured the main job's choice)."""
    if params <= SMALL_ENCODER_PARAMS:
        return epochs or (10 if n_examples < 100 else 5 if n_examples < 1000 else 3), learning_rate or 1e-4
    return epochs or (6 if n_examples < 200 else 4 if n_examples < 1000 else 3), learning_rate or 5e-5


def validation_split(rows: list[dict], patience: int, seed: int) -> tuple[list[dict], list[dict]]:
    """10% of the rows for early stopping, when it is on and there are enough rows."""
    if patience <= 0 or len(rows) < MIN_ROWS_FOR_VALIDATION:
        return rows, []
    shuffled = random.Random(seed).sample(rows, len(rows))
    n = len(rows) // 10
    return shuffled[n:], shuffled[:n]


def common_args(
    ctx: RunContext, work: Path, n_examples: int, epochs: float, batch_size: int, learning_rate: float, validate: bool
) -> dict:
    total_steps = math.ceil(math.ceil(n_examples / batch_size) * epochs)
    every = max(1, total_steps // 4)  # a few checkpoints per run, so an interrupted run resumes
    return dict(
        output_dir=str(work),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=0.1,
        weight_decay=0.01,
        logging_steps=1,
        save_strategy="steps",
        save_steps=every,
        save_total_limit=1,
        report_to=[],
        seed=ctx.config.seed,
        bf16=use_bf16(),
        disable_tqdm=True,
        dataloader_pin_memory=best_device() == "cuda",  # pinned memory serves only a GPU
        **(
            dict(
                eval_strategy="steps",
                eval_steps=every,
                load_best_model_at_end=True,
                metric_for_best_model="eval_loss",
                greater_is_better=False,
            )
            if validate
            else {}
        ),
    )


def callbacks(ctx: RunContext, validate: bool, description: str = "training") -> list:
    return [ProgressCallback(ctx.progress, description)] + (
        [EarlyStoppingCallback(ctx.config.early_stopping)] if validate else []
    )


def model_kwargs(lora: str) -> dict:
    """QLoRA loads the base in 4-bit NF4 (bitsandbytes, CUDA only); everything else in full precision."""
    if lora != "qlora":
        return {}
    import torch
    from transformers import BitsAndBytesConfig

    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
    }


def wants_adapters(lora: str, params: int, peft_task: str) -> bool:
    """--lora as asked; 'auto' by the student's size, with a lower bar for a causal student."""
    if lora == "auto":
        return params > (CAUSAL_LORA_ABOVE_PARAMS if peft_task == "CAUSAL_LM" else LORA_ABOVE_PARAMS)
    return lora != "off"


def with_lora(model, lora: str, peft_task: str):
    """Wrap in LoRA adapters (peft) when asked, or for 'auto' when the model is large."""
    if not wants_adapters(lora, count_params(model), peft_task):
        return model
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if lora == "qlora":
        model = prepare_model_for_kbit_training(model)
    with warnings.catch_warnings():  # peft reads the model's checkpointing flag by its old transformers name
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        return get_peft_model(
            model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type=peft_task)
        )


def classifier_targets(spec: TaskSpec, rows: list[dict], method: str, alpha: float):
    """Each row's target distribution over the labels: one-hot on its kept label; `soft-kd` mixes in
    the teacher's calibrated distribution by `alpha`."""
    import torch

    onehot = torch.tensor([[float(r["output"] == label) for label in spec.labels] for r in rows])
    if method != "soft-kd":
        return onehot
    soft = torch.tensor([[r["teacher_distribution"][label] for label in spec.labels] for r in rows])
    return alpha * soft / soft.sum(-1, keepdim=True).clamp(min=1e-9) + (1 - alpha) * onehot


def fit_classifier_head(ctx: RunContext, spec: TaskSpec, model, tokenizer, rows: list[dict]) -> None:
    """The head as a linear probe on the frozen encoder's embeddings of `rows`, pulled toward the label
    names' embeddings (--label-prior names) or toward zero."""
    ctx.progress.task(f"fitting the head on {len(rows)} embeddings", total=None)
    model.to(best_device())
    x = embed_texts(model, tokenizer, [r["input"] for r in rows], MAX_INPUT_TOKENS)
    prior = (
        label_prototypes(model, tokenizer, spec.labels, MAX_INPUT_TOKENS) if ctx.config.label_prior == "names" else None
    )
    weight, bias = fit_head(x, classifier_targets(spec, rows, ctx.config.method, ctx.config.kd_alpha), prior)
    model.head.weight.data.copy_(weight)
    model.head.bias.data.copy_(bias)


def add_label_prototypes(ctx: RunContext, spec: TaskSpec, model: EmbeddingClassifier, tokenizer) -> None:
    """The trained head plus --label-prototypes times the zero-shot classifier read through the trained
    encoder. On a strong teacher's data the two agree and the sum gains a little; on a weak teacher's
    (inputs that are not the task's, labels by echo) the head alone falls far below zero-shot, the sum not
    (measured in benchmarks/recipe.py)."""
    if ctx.config.label_prototypes:
        prototypes = label_prototypes(model, tokenizer, spec.labels, MAX_INPUT_TOKENS)
        model.head.weight.data += (ctx.config.label_prototypes * prototypes).to(model.head.weight)


def ensemble_with_base(
    ctx: RunContext, spec: TaskSpec, model: EmbeddingClassifier, tokenizer, base: str
) -> float | None:
    """--weight-ensemble below 1: the weights become that share of the trained student's plus the rest of
    the base encoder's with its zero-shot head (WiSE-FT). The trained student's gains on the task come
    with a cost in what the base knew of the label names, which a weak teacher's data makes large; the
    average keeps part of each at no inference cost (measured in benchmarks/recipe.py). Returns the
    share applied: None where the encoder was not fully tuned (head only, or LoRA adapters)."""
    share = ctx.config.weight_ensemble
    if ctx.config.classifier_tuning != "full" or hasattr(model.body, "peft_config"):
        return None
    if share == 1:
        return share
    import torch
    from transformers import AutoModel

    zero_shot = EmbeddingClassifier(AutoModel.from_pretrained(base), len(spec.labels)).to(model.head.weight.device)
    zero_shot.head.weight.data = label_prototypes(zero_shot, tokenizer, spec.labels, MAX_INPUT_TOKENS).to(
        model.head.weight
    )
    zero_shot.head.bias.data.zero_()
    base_weights = zero_shot.state_dict()
    with torch.no_grad():
        for name, weight in model.state_dict().items():
            if weight.is_floating_point():
                weight.mul_(share).add_(base_weights[name].to(weight), alpha=1 - share)
    return share


def train_classifier(ctx: RunContext, spec: TaskSpec, base: str, rows: list[dict], validation: list[dict], work: Path):
    """(trainer or None, model, tokenizer): the head fitted on the rows; with --classifier-tuning full,
    a Trainer that fine-tunes encoder and head from there (`soft-kd`: KL to the teacher's distribution)."""
    from datasets import Dataset
    from transformers import AutoModel, AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = EmbeddingClassifier(AutoModel.from_pretrained(base, **model_kwargs(ctx.config.lora)), len(spec.labels))
    full = ctx.config.classifier_tuning == "full"
    fit_classifier_head(
        ctx, spec, model, tokenizer, rows if full else rows + validation
    )  # head only: nothing to stop early on
    if not full:
        return None, model, tokenizer
    label2id = {label: i for i, label in enumerate(spec.labels)}
    soft = ctx.config.method == "soft-kd"

    def dataset(part: list[dict]):
        data = Dataset.from_list(
            [
                {
                    "text": r["input"],
                    "label": label2id[r["output"]],
                    **({"soft_targets": [r["teacher_distribution"][l] for l in spec.labels]} if soft else {}),
                }
                for r in part
            ]
        )
        return data.map(
            lambda b: tokenizer(b["text"], truncation=True, max_length=MAX_INPUT_TOKENS),
            batched=True,
            remove_columns=["text"],
        )

    model.body = with_lora(model.body, ctx.config.lora, "FEATURE_EXTRACTION")
    epochs, learning_rate = classifier_schedule(
        len(rows), count_params(model), ctx.config.epochs, ctx.config.learning_rate
    )
    args = TrainingArguments(
        **common_args(
            ctx, work, len(rows), epochs, batch_size=16, learning_rate=learning_rate, validate=bool(validation)
        ),
        remove_unused_columns=False,
    )  # soft_targets reach compute_loss
    trainer_class = soft_target_trainer(ctx.config.kd_alpha, ctx.config.kd_temperature) if soft else Trainer
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=dataset(rows),
        eval_dataset=dataset(validation) if validation else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        callbacks=callbacks(ctx, bool(validation)),
    )
    return trainer, model, tokenizer


def train_extractive(ctx: RunContext, spec: TaskSpec, base: str, rows: list[dict], validation: list[dict], work: Path):
    """(trainer, model, tokenizer): an encoder with a fresh span head, fine-tuned on each answer's
    position in its passage (the loss of transformers' question-answering models)."""
    from datasets import Dataset
    from transformers import (
        AutoModelForQuestionAnswering,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = with_lora(
        AutoModelForQuestionAnswering.from_pretrained(base, **model_kwargs(ctx.config.lora)),
        ctx.config.lora,
        "QUESTION_ANS",
    )
    epochs, learning_rate = classifier_schedule(
        len(rows), count_params(model), ctx.config.epochs, ctx.config.learning_rate
    )
    args = TrainingArguments(
        **common_args(
            ctx, work, len(rows), epochs, batch_size=16, learning_rate=learning_rate, validate=bool(validation)
        )
    )
    train, evaluation = (
        Dataset.from_dict(training_features(tokenizer, part, spec.instruction)) if part else None
        for part in (rows, validation)
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        callbacks=callbacks(ctx, bool(validation)),
    )
    return trainer, model, tokenizer


def causal_rows(spec: TaskSpec, rows: list[dict], method: str) -> list[dict]:
    """Conversational prompt/completion rows: TRL's format for `sft`/`context`, plain completions plus
    the teacher's own prompt (instruction and few-shot turns) for the `CompletionCollator` methods."""

    def prompt(text: str) -> list[dict]:
        return [{"role": "user", "content": student_prompt("" if method == "context" else spec.instruction, text)}]

    if method in ("sft", "context"):
        return [
            {"prompt": prompt(r["input"]), "completion": [{"role": "assistant", "content": r["output"]}]} for r in rows
        ]
    out = [{"prompt": prompt(r["input"]), "completion": r["output"]} for r in rows]
    if method == "logit-kd":
        for row, source in zip(out, rows):
            row["teacher_prompt"] = [
                {"role": role, "content": text} for role, text in teacher_requests(spec, source["input"], 0)[0].messages
            ]
    return out


def local_teacher(ctx: RunContext, tokenizer):
    """The teacher's model for logit KD: it must run here and share the student's tokenizer. The local
    backend's own instance is used, so a teacher already loaded for synthesis is not loaded twice."""
    from p2m.teacher.local import LocalBackend

    backend = ctx.teacher.backend
    if not isinstance(backend, LocalBackend):
        raise P2MError(
            "--method logit-kd needs the teacher's logits in torch: a transformers teacher with the student's "
            "tokenizer (e.g. --teacher HuggingFaceTB/SmolLM2-135M-Instruct, or a model dir); use --method sft "
            "or context with a GGUF or server teacher"
        )
    model, teacher_tokenizer = backend.load()
    if teacher_tokenizer.get_vocab() != tokenizer.get_vocab():
        raise P2MError(
            f"--method logit-kd needs a teacher and student with one tokenizer; {backend.model}'s differs from the student's"
        )
    return model


def train_generator(
    ctx: RunContext,
    spec: TaskSpec,
    base: str,
    rows: list[dict],
    validation: list[dict],
    epochs: float,
    work: Path,
    method: str | None = None,
    description: str = "training",
    weak=None,
):
    """A trainer for a causal student from `base`; `weak` is WMSS's weak model (the loaded base checkpoint)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments
    from trl import SFTConfig, SFTTrainer

    config = ctx.config
    method = method or config.method
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = with_lora(AutoModelForCausalLM.from_pretrained(base, **model_kwargs(config.lora)), config.lora, "CAUSAL_LM")
    train, evaluation = (
        Dataset.from_list(causal_rows(spec, part, method)) if part else None for part in (rows, validation)
    )
    common = dict(
        model=model,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        callbacks=callbacks(ctx, bool(validation), description),
    )
    learning_rate = config.learning_rate or (
        ADAPTER_LEARNING_RATE if hasattr(model, "peft_config") else GENERATOR_LEARNING_RATE
    )
    args = common_args(
        ctx, work, len(rows), epochs, batch_size=8, learning_rate=learning_rate, validate=bool(validation)
    )
    if method in ("sft", "context"):
        with warnings.catch_warnings():  # TRL's own default (gradient_checkpointing=True) under transformers' new name
            warnings.filterwarnings("ignore", message="`gradient_checkpointing` is deprecated", category=FutureWarning)
            sft_args = SFTConfig(**args, max_length=MAX_SEQUENCE_TOKENS, completion_only_loss=True)
        return SFTTrainer(args=sft_args, **common), tokenizer
    collator = CompletionCollator(tokenizer, MAX_SEQUENCE_TOKENS)
    args = TrainingArguments(**args, remove_unused_columns=False)  # the collator reads the raw rows
    if method == "logit-kd":
        return LogitKDTrainer(
            args=args,
            data_collator=collator,
            teacher_model=local_teacher(ctx, tokenizer),
            alpha=config.kd_alpha,
            beta=config.kd_beta,
            on_policy=config.kd_on_policy,
            **common,
        ), tokenizer
    return WMSSTrainer(args=args, data_collator=collator, weak_model=weak, lam=config.wmss_lambda, **common), tokenizer


def last_checkpoint(ctx: RunContext, work: Path) -> str | None:
    """The last checkpoint of an interrupted training with the same inputs; stale work is cleared."""
    from transformers.trainer_utils import get_last_checkpoint

    root = ctx.path(run_paths.TRAIN_WORK)
    marker = root / "fingerprint"
    if not (marker.exists() and marker.read_text() == ctx.fingerprint):
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        marker.write_text(ctx.fingerprint)
    return get_last_checkpoint(str(work)) if work.exists() else None


def fit(ctx: RunContext, trainer, checkpoint: str | None):
    trainer.remove_callback(PrinterCallback)  # losses go to our progress sink, not stdout
    if checkpoint:
        ctx.progress.log(f"train: resuming from {Path(checkpoint).name}")
    return trainer.train(resume_from_checkpoint=checkpoint)


def merged(model):
    """LoRA adapters merged into the base weights (a plain model), or the model as it is."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def save_model(model, tokenizer, model_dir: Path) -> None:
    """A plain `save_pretrained` dir (a classifier: its encoder plus the head's file)."""
    shutil.rmtree(model_dir, ignore_errors=True)
    if isinstance(model, EmbeddingClassifier):
        model.body = merged(model.body)
        model.save(model_dir)
    else:
        merged(model).save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))


def wmss_phase(
    ctx: RunContext, spec: TaskSpec, base: str, rows: list[dict], validation: list[dict], epochs: float
) -> tuple:
    """WMSS: SFT (saved once to train/work/sft-model, so a resume skips it), then one epoch of weak-driven
    joint training from that model on examples drawn by entropy dynamics, the base as the weak model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from p2m.training.wmss import completion_entropies, resample, selection_weights

    sft_dir = ctx.path(run_paths.TRAIN_WORK) / "sft-model"
    if not (sft_dir / "config.json").exists():
        work = ctx.path(run_paths.TRAIN_WORK) / "sft"
        trainer, tokenizer = train_generator(
            ctx, spec, base, rows, validation, epochs, work, method="sft", description="training (sft)"
        )
        fit(ctx, trainer, last_checkpoint(ctx, work))
        save_model(trainer.accelerator.unwrap_model(trainer.model), tokenizer, sft_dir)
    tokenizer = AutoTokenizer.from_pretrained(sft_dir)
    plain = causal_rows(spec, rows, "wmss")
    ctx.progress.task("wmss: entropies of base and sft models", total=None)
    weak = AutoModelForCausalLM.from_pretrained(base).to(best_device())  # loaded once: entropies, then the weak model
    base_h = completion_entropies(weak, plain, tokenizer)
    sft_h = completion_entropies(AutoModelForCausalLM.from_pretrained(sft_dir).to(best_device()), plain, tokenizer)
    alpha, beta, gamma = ctx.config.wmss_weights
    picked = resample(rows, selection_weights(base_h, sft_h, alpha, beta, gamma), ctx.config.seed)
    work = ctx.path(run_paths.TRAIN_WORK) / "wmss"
    trainer, tokenizer = train_generator(
        ctx, spec, str(sft_dir), picked, validation, 1, work, description="training (wmss)", weak=weak
    )
    return trainer, tokenizer, work


def method_error(method: str, kind: StudentKind, student: str) -> str:
    """Why --method cannot train this kind of student."""
    if method == "soft-kd":
        return "--method soft-kd needs a classification task (label distributions); use --method sft or logit-kd"
    return f"--method {method} is for causal LM students; this run trains a {kind} ({student}): use --method sft"


class Train(Stage):
    name = "train"
    version = 13  # --learning-rate; 'auto' LoRA for causal students over 300M, which train at 2e-4
    config_fields = (
        "epochs",
        "learning_rate",
        "seed",
        "method",
        "kd_alpha",
        "kd_temperature",
        "kd_beta",
        "kd_on_policy",
        "wmss_lambda",
        "wmss_weights",
        "lora",
        "early_stopping",
        "classifier_tuning",
        "label_prior",
        "label_prototypes",
        "weight_ensemble",
    )
    uses_teacher = True  # logit-kd reads the teacher's logits
    prompt_files = ("classify", "answer", "solve")  # logit-kd's teacher prompt: the task kind's answer prompt
    inputs = (run_paths.SPEC, run_paths.STUDENT, run_paths.TRAIN)
    outputs = (run_paths.MODEL_META, run_paths.TRAIN_METRICS)

    def run(self, ctx: RunContext) -> None:
        spec, method = ctx.spec(), ctx.config.method
        chosen = read_json(ctx.path(run_paths.STUDENT))["chosen"]
        student, kind = chosen["id"], spec.kind.student_kind(chosen.get("arch", ""))
        rows = read_jsonl(ctx.path(run_paths.TRAIN))
        if not rows:
            raise P2MError(
                "no synthetic example passed verification, so there is nothing to train on; "
                "raise --num-examples or lower --keep-threshold"
            )
        classifier = kind.classifies
        if method not in kind.methods:
            raise P2MError(method_error(method, kind, student))
        rows, validation = validation_split(rows, ctx.config.early_stopping, ctx.config.seed)
        ctx.progress.task(f"loading {student}", total=None)
        set_seed(ctx.config.seed)  # the new head's initial weights too: a resumed run trains what a cold one would
        started = time.perf_counter()
        trainer, model, tokenizer, checkpoint = self.build(ctx, spec, kind, resolve_model(student), rows, validation)
        result = fit(ctx, trainer, checkpoint) if trainer else None
        if trainer and not trainer.is_world_process_zero():
            return
        model = trainer.accelerator.unwrap_model(trainer.model) if trainer else model
        ensembled = None
        if classifier:
            add_label_prototypes(ctx, spec, model, tokenizer)
            ensembled = ensemble_with_base(ctx, spec, model, tokenizer, resolve_model(student))
        adapters = hasattr(model.body if classifier else model, "peft_config")
        model_dir = ctx.path(run_paths.MODEL)
        save_model(model, tokenizer, model_dir)
        budget = answer_budget(tokenizer, [r["output"] for r in rows + validation]) if kind.generates else None
        save_meta(model_dir, spec, student, method, kind, budget)
        shutil.rmtree(ctx.path(run_paths.TRAIN_WORK), ignore_errors=True)
        shutil.rmtree(ctx.path(run_paths.EXPORT), ignore_errors=True)  # made from the student this one replaces
        write_json(
            ctx.path(run_paths.TRAIN_METRICS),
            {
                "base_model": student,
                "kind": kind.name,
                "examples": len(rows),
                "validation_examples": len(validation),
                "method": method,
                "classifier_tuning": ctx.config.classifier_tuning if classifier else None,
                "label_prior": ctx.config.label_prior if classifier else None,
                "label_prototypes": ctx.config.label_prototypes if classifier else None,
                "weight_ensemble": ensembled,
                "lora": ("qlora" if ctx.config.lora == "qlora" else "on") if adapters else "off",
                "seconds": round(time.perf_counter() - started, 2),
                "resumed_from": Path(checkpoint).name if checkpoint else None,
                **(trainer_metrics(trainer, result) if trainer else {"device": best_device(), "bf16": False}),
            },
        )

    def build(
        self, ctx: RunContext, spec: TaskSpec, kind: StudentKind, base: str, rows: list[dict], validation: list[dict]
    ) -> tuple:
        """(trainer or None for a head-only classifier, model, tokenizer, checkpoint to resume from)."""
        work = ctx.path(run_paths.TRAIN_WORK) / "main"
        checkpoint = last_checkpoint(ctx, work)
        model = None
        try:
            if ctx.config.method == "wmss":
                trainer, tokenizer, work = wmss_phase(
                    ctx, spec, base, rows, validation, ctx.config.epochs or GENERATOR_EPOCHS
                )
                checkpoint = last_checkpoint(ctx, work)
            elif kind.generates:
                trainer, tokenizer = train_generator(
                    ctx, spec, base, rows, validation, ctx.config.epochs or GENERATOR_EPOCHS, work
                )
            else:
                train_encoder = train_classifier if kind.classifies else train_extractive
                trainer, model, tokenizer = train_encoder(ctx, spec, base, rows, validation, work)
        except OSError as error:  # transformers: the student is neither on this machine nor downloadable
            if error.errno == errno.ENOSPC:
                raise
            raise P2MError(f"cannot load the student {base}: {str(error).splitlines()[0]}") from None
        return trainer, model, tokenizer, checkpoint if trainer else None


def trainer_metrics(trainer, result) -> dict:
    """What a Trainer's run says about itself: steps, losses, throughput, device."""
    history = trainer.state.log_history
    return {
        "epochs": trainer.args.num_train_epochs,
        "learning_rate": trainer.args.learning_rate,
        "steps": result.global_step,
        "planned_steps": trainer.state.max_steps,
        "stopped_early": result.global_step < trainer.state.max_steps,
        "train_loss": round(result.training_loss, 4),
        "samples_per_s": round(result.metrics.get("train_samples_per_second", 0.0), 2),
        "loss_curve": [entry["loss"] for entry in history if "loss" in entry],
        "eval_loss_curve": [entry["eval_loss"] for entry in history if "eval_loss" in entry],
        "device": str(trainer.args.device),
        "bf16": trainer.args.bf16,
    }
