"""Training throughput of p2m's Train stage per method, and of a plain TRL `SFTTrainer` of the same config.

    python benchmarks/train_throughput.py --limit 64                     # CPU here: sft, plain TRL sft, logit-kd
    python benchmarks/train_throughput.py --random-init --limit 256      # a GPU machine without the weights

Each method runs the real `Train` stage on a run directory of date-normalization rows made here (no
data files needed), on whatever device is present (CUDA with bf16 where supported). `plain_trl_sft`
is `trl.SFTTrainer` with the very arguments p2m's `sft` path builds, on the same rows, with no p2m
code in the loop; `sft_over_plain` is the ratio of their samples/s, measured side by side (acceptance:
within 10%). `--random-init` trains a randomly initialized copy of the student built from its config
(same architecture and size): for a machine the weights cannot be carried to; figures are speed, not
quality. Prints one JSON object (last line).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import torch

from p2m import Pipeline, RunConfig, TaskSpec
from p2m.device import best_device, use_bf16
from p2m.embedded import SMOLLM2_ID, resolve_model
from p2m.files import write_json, write_jsonl
from p2m.stages.train import Train, causal_rows, common_args

TASK = "Convert dates like 'March 3, 2021' to ISO format 2021-03-03"


def date_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    days = [date(1990, 1, 1) + timedelta(days=rng.randrange(15000)) for _ in range(n)]
    return [
        {"id": f"d{i}", "input": d.strftime("%B %-d, %Y"), "output": d.isoformat(), "source": "synthetic"}
        for i, d in enumerate(days)
    ]


def spec() -> TaskSpec:
    return TaskSpec.from_dict(
        {
            "instruction": TASK,
            "task_type": "generation",
            "examples": [
                {"input": "March 3, 2021", "output": "2021-03-03"},
                {"input": "July 14, 1999", "output": "1999-07-14"},
            ],
        }
    )


def random_copy(model_dir: str, target: Path) -> str:
    """A randomly initialized model of the same config (and the tokenizer), saved to target."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir)).save_pretrained(target)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(target)
    return str(target)


def make_run(root: Path, student: str, rows: list[dict]) -> Path:
    root.mkdir(parents=True)
    write_json(root / "spec.json", spec().to_dict())
    write_json(root / "student.json", {"chosen": {"id": student}})
    write_jsonl(root / "data" / "train.jsonl", rows)
    return root


def stage_run(run: Path, student: str, rows: list[dict], method: str, epochs: float, lora: str) -> dict:
    """The real Train stage (the teacher is the student's own checkpoint: logit-kd needs one tokenizer)."""
    make_run(run, student, rows)
    config = RunConfig(
        task=TASK, out=str(run), method=method, epochs=epochs, teacher=student, early_stopping=0, lora=lora
    )
    started = time.perf_counter()
    Pipeline(config, stages=[Train()]).run()
    metrics = json.loads((run / "train" / "metrics.json").read_text())
    return {
        "samples_per_s": metrics["samples_per_s"],
        "train_seconds": metrics["seconds"],
        "stage_seconds": round(time.perf_counter() - started, 2),
        "steps": metrics["steps"],
        "final_loss": metrics["loss_curve"][-1],
        "device": metrics["device"],
        "bf16": metrics["bf16"],
        "lora": metrics["lora"],
    }


def plain_trl_sft(run: Path, student: str, rows: list[dict], epochs: float) -> dict:
    """`trl.SFTTrainer` alone, with the arguments p2m's sft path builds (checkpoints included)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    make_run(run, student, rows)
    ctx = Pipeline(RunConfig(task=TASK, out=str(run))).ctx  # common_args reads the seed and paths only
    args = common_args(ctx, run / "work", len(rows), epochs, batch_size=8, learning_rate=5e-5, validate=False)
    tokenizer = AutoTokenizer.from_pretrained(student)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(student),
        processing_class=tokenizer,
        args=SFTConfig(**args, max_length=256, completion_only_loss=True),
        train_dataset=Dataset.from_list(causal_rows(spec(), rows, "sft")),
    )
    result = trainer.train()
    return {
        "samples_per_s": round(result.metrics["train_samples_per_second"], 2),
        "train_seconds": round(result.metrics["train_runtime"], 2),
        "steps": result.global_step,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=64, help="training rows")
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument(
        "--methods",
        default="sft,plain_trl_sft,logit-kd",
        help="comma-separated: sft, plain_trl_sft, logit-kd, context, wmss",
    )
    parser.add_argument(
        "--student", default=SMOLLM2_ID, help="causal LM id or path (default: the embedded SmolLM2-135M-Instruct)"
    )
    parser.add_argument(
        "--random-init", action="store_true", help="train a random-weights copy of the student's config"
    )
    parser.add_argument("--lora", default="off", help="the Train stage's --lora (off, on, qlora)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each method, alternating; samples/s is their median"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="p2m-throughput-"))
    try:
        student = (
            random_copy(resolve_model(args.student), work / "student")
            if args.random_init
            else resolve_model(args.student)
        )
        rows = date_rows(args.limit)
        results = {method: {"runs": []} for method in args.methods.split(",")}
        for repeat in range(args.repeats):  # alternating, so warm-up and drift fall on every method alike
            for method in results:
                if torch.cuda.is_available():
                    torch.cuda.reset_peak_memory_stats()
                run = work / f"{method}-{repeat}"
                result = (
                    plain_trl_sft(run, student, rows, args.epochs)
                    if method == "plain_trl_sft"
                    else stage_run(run, student, rows, method, args.epochs, args.lora)
                )
                if torch.cuda.is_available():
                    result["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
                shutil.rmtree(run, ignore_errors=True)
                results[method]["runs"].append(result)
                print(json.dumps({method: result}), flush=True)
        for result in results.values():
            result["samples_per_s"] = statistics.median(r["samples_per_s"] for r in result["runs"])
        out = {
            "rows": len(rows),
            "epochs": args.epochs,
            "repeats": args.repeats,
            "device": best_device(),
            "bf16": use_bf16(),
            "random_init": args.random_init,
            "lora": args.lora,
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "methods": results,
        }
        if {"sft", "plain_trl_sft"} <= set(results):
            out["sft_over_plain"] = round(
                results["sft"]["samples_per_s"] / results["plain_trl_sft"]["samples_per_s"], 3
            )
        print(json.dumps(out))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
