"""Report: one JSON for programs (report.json) and pages for people (report.md, report.html with plots)."""

from __future__ import annotations

from pathlib import Path

from p2m import prompts, run_paths
from p2m.export.dataset import save_dataset
from p2m.files import read_json, read_jsonl, write_json, write_text
from p2m.metrics import headline, verdict
from p2m.report_html import render_html
from p2m.run_ledger import attempts_of
from p2m.stages.base import RunContext, Stage
from p2m.stages.synthesize import Synthesize
from p2m.stages.verify import Verify
from p2m.tasks import kind_of
from p2m.teacher.calls import Ledger


def render_markdown(report: dict) -> str:
    teacher, student, data = report["teacher"], report["student"], report["data"]
    spec = report["spec"]
    lines = [
        f"# p2m report: {report['task']}",
        "",
        f"- Task type: **{spec['task_type']}**" + (f"; labels: {', '.join(spec['labels'])}" if spec["labels"] else ""),
        *[f"  - {label}: {text}" for label, text in (spec.get("label_descriptions") or {}).items()],
        f"- Instruction: {spec['instruction']}",
        f"- Teacher: `{teacher['model']}`; student: `{student['model']}` -> `{report['paths']['model']}`",
        "",
        "## Teacher vs student (same held-out items)",
        "",
        "| | model | metric (95% CI) | params | latency ms/example |",
        "|---|---|---|---|---|",
    ]
    for role, side in (("teacher", teacher), ("student", student)):
        params = f"{side['params'] / 1e6:.1f}M" if side.get("params") else "unknown"
        lines.append(
            f"| {role} | `{side['model']}` | {headline(side['metrics']['all'])} | {params} | {side['latency_ms']:.1f} |"
        )
    for name, scores in report.get("baselines", {}).items():
        lines.append(f"| baseline | {name} | {headline(scores)} | - | - |")
    lines += [
        "",
        *(
            [
                f"Teacher reading: {teacher['reading']} (the stronger on these items of: {', '.join(teacher['readings'])})."
            ]
            if teacher.get("readings")
            else []
        ),
        verdict(report),
        f"Latency: teacher {teacher['latency_basis']}; student {student['latency_basis']}.",
        "",
        "Per source (`user`: your examples with your answers, each asked leave-one-out: the teacher's "
        "demonstrations never include the example it is asked about; `synthetic`: verified teacher labels, "
        "which favour the teacher by construction):",
        "",
    ]
    for source in [s for s in student["metrics"] if s != "all"]:
        lines.append(
            f"- {source}: teacher {headline(teacher['metrics'][source])}; "
            f"student {headline(student['metrics'][source])} (n={student['metrics'][source]['n']})"
        )
    lines += _data_section(report) + _verifier_section(data) + _training_and_cost_section(report)
    if spec.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in spec["warnings"]]
    return "\n".join(lines) + "\n"


def _data_section(report: dict) -> list[str]:
    data = report["data"]
    return [
        "",
        "## Data",
        "",
        f"- Candidates generated: {data['candidates']}; kept after verification: {data['kept']} "
        f"(train {data['train']}, test {data['test']})"
        + (
            f"; {data['train_more_solutions']} of the train rows are further worked solutions of their questions"
            if data.get("train_more_solutions")
            else ""
        ),
        f"- Removed: {data['removed'] or 'none'}",
        f"- Test items near a training input (leakage check): {report['leakage']['test_items_near_a_training_input']}",
        f"- Mean verifier scores of kept examples: {data['mean_scores']}",
        "",
    ]


def _training_and_cost_section(report: dict) -> list[str]:
    ledger = report["ledger"]
    cost = "unknown (no price for this teacher)" if ledger["cost_usd"] is None else f"${ledger['cost_usd']:.4f}"
    return [
        "## Training",
        "",
        f"- {training_line(report['training'])}, {report['training']['seconds']} s on {report['training']['device']}",
        "",
        "## Teacher cost",
        "",
        f"- Live calls: {ledger['calls']}, cache hits: {ledger['cache_hits']}, tokens: "
        f"{ledger['prompt_tokens']} prompt + {ledger['completion_tokens']} completion, "
        f"cost: {cost}",
    ]


def _verifier_section(data: dict) -> list[str]:
    """Per-verifier accuracy as the label model estimates it (no gold used), and pairwise agreement."""
    if not data.get("estimated_accuracy"):
        return []
    names = list(data["estimated_accuracy"])
    lines = [
        "### Verifiers",
        "",
        "| verifier | estimated accuracy | " + " | ".join(f"agrees with {n}" for n in names) + " |",
        "|---" * (len(names) + 2) + "|",
    ]
    for name in names:
        cells = " | ".join("-" if v is None else f"{v:.2f}" for v in data["agreement"][name].values())
        lines.append(f"| {name} | {data['estimated_accuracy'][name]:.2f} | {cells} |")
    return lines + [""]


def tokens_by_stage(run_dir, current: Ledger) -> dict[str, int]:
    """Teacher tokens per stage over every invocation of this run."""
    path = run_dir / run_paths.LEDGER
    totals: dict[str, int] = {}
    for entry in (read_json(path)["history"] if path.exists() else []) + [current.__dict__]:
        for stage, row in entry.get("by_stage", {}).items():
            totals[stage] = totals.get(stage, 0) + row["prompt_tokens"] + row["completion_tokens"]
    return {stage: n for stage, n in totals.items() if n}


def total_ledger(run_dir, current: Ledger) -> dict:
    """All teacher calls made for this run: earlier invocations (resumed ones included) and this one."""
    path = run_dir / run_paths.LEDGER
    history = (read_json(path)["history"] if path.exists() else []) + [current.__dict__]
    keys = ("calls", "cache_hits", "prompt_tokens", "completion_tokens")
    total = {k: sum(h[k] for h in history) for k in keys}
    total["failed_attempts"] = sum(h.get("failed_attempts", 0) for h in history)
    total["attempts"] = sum(attempts_of(h) for h in history)
    costs = [h["cost_usd"] for h in history if h["cost_usd"] is not None]
    total["cost_usd"] = round(sum(costs), 6) if costs else None
    return total


METHODS = {
    "sft": "supervised training on the verified targets",
    "soft-kd": "soft-label distillation (KL to the teacher's calibrated label distribution, mixed with CE)",
    "logit-kd": "logit distillation (per-token generalized JSD to the teacher's logits on its few-shot prompt, mixed with CE)",
    "context": "context distillation (input -> answer, without the instruction and examples the teacher saw)",
    "wmss": "supervised fine-tuning, then weak-driven joint training with the base checkpoint (WMSS)",
}

USAGE = '```python\nfrom p2m import Student\nStudent("MODEL_DIR").predict(["your input"])\n```'


def training_line(training: dict) -> str:
    """How the student was fitted, in one line: a probe's head, or a Trainer's epochs, steps and loss."""
    prototypes = training.get("label_prototypes")
    added = f"; the label names' prototypes added to the head x {prototypes}" if prototypes else ""
    share = training.get("weight_ensemble")
    added += (
        f"; then averaged with the base encoder's zero-shot classifier, {share} of the trained weights"
        if share not in (None, 1)
        else ""
    )
    if training.get("classifier_tuning") == "head":
        prior = {"names": "pulled toward the label names' embeddings", "none": "no prior"}[training["label_prior"]]
        return f"{training['examples']} examples, a linear head on the frozen encoder's mean-pooled embeddings ({prior}{added})"
    return (
        f"{training['examples']} examples, {training['epochs']} epochs, {training['steps']} steps, final loss {training['train_loss']}"
        + (f" (encoder and head from the fitted probe{added})" if training.get("classifier_tuning") == "full" else "")
    )


def teacher_provenance(teacher: dict) -> str:
    """The teacher's name and, for a weights file, exactly which file (the packaging may be a third party's)."""
    file = teacher.get("backend", {}).get("file")
    if not file:
        return f"`{teacher['model']}`"
    return f"`{teacher['model']}` (file `{Path(file['path']).name}`, sha256 `{file['sha256']}`, {file['size']:,} bytes, from {file['source']})"


def render_model_card(report: dict) -> str:
    """model/README.md: what the model is, how it was made and measured, and its limits."""
    spec, data, training = report["spec"], report["data"], report["training"]
    kind = kind_of(spec["task_type"])
    classifier = kind.labelled
    values = dict(
        title=f"p2m student: {spec['instruction']}",
        task=report["task"],
        task_type=spec["task_type"],
        labels_line=f" ({', '.join(spec['labels'])})" if classifier else "",
        pipeline_tag=kind.hub_category,
        base_model=training["base_model"],
        teacher=teacher_provenance(report["teacher"]),
        candidates=data["candidates"],
        kept=data["kept"],
        removed=data["removed"] or "none",
        train=data["train"],
        test=data["test"],
        method=METHODS[training["method"]]
        + (", through LoRA adapters (merged)" if training.get("lora") in ("on", "qlora") else ""),
        training=training_line(training),
        teacher_metric=headline(report["teacher"]["metrics"]["all"]),
        student_metric=headline(report["student"]["metrics"]["all"]),
        usage=USAGE.replace("MODEL_DIR", report["paths"]["model"]),
    )
    return prompts.fill("model_card", **values)


class Report(Stage):
    name = "report"
    version = 5  # the training line of a head-only classifier
    inputs = (
        run_paths.SPEC,
        run_paths.VERIFY_SUMMARY,
        run_paths.TRAIN,
        run_paths.TRAIN_METRICS,
        run_paths.EVAL_METRICS,
        run_paths.EVAL_PREDICTIONS,
    )
    outputs = (
        run_paths.REPORT_JSON,
        run_paths.REPORT_MD,
        run_paths.REPORT_HTML,
        run_paths.MODEL_CARD,
        run_paths.DATASET,
    )
    prompt_files = ("model_card", "dataset_card")

    def run(self, ctx: RunContext) -> None:
        evaluation = read_json(ctx.path(run_paths.EVAL_METRICS))
        report = {
            "task": ctx.config.task,
            "spec": read_json(ctx.path(run_paths.SPEC)),
            "teacher": {**evaluation["teacher"], "backend": ctx.teacher.backend.describe()},
            "student": evaluation["student"],
            **{
                key: evaluation[key]
                for key in ("baselines", "retention", "student_minus_teacher", "student_minus_baseline")
                if key in evaluation
            },
            "n_test": evaluation["n"],
            "leakage": evaluation["leakage"],
            "data": read_json(ctx.path(run_paths.VERIFY_SUMMARY)),
            "training": read_json(ctx.path(run_paths.TRAIN_METRICS)),
            "ledger": total_ledger(ctx.run_dir, ctx.teacher.ledger),
            "paths": {
                "run_dir": str(ctx.run_dir),
                "model": str(ctx.path(run_paths.MODEL)),
                "report": str(ctx.path(run_paths.REPORT_MD)),
                "html": str(ctx.path(run_paths.REPORT_HTML)),
            },
        }
        write_json(ctx.path(run_paths.REPORT_JSON), report)
        write_text(ctx.path(run_paths.REPORT_MD), render_markdown(report))
        write_text(
            ctx.path(run_paths.REPORT_HTML),
            render_html(
                report,
                read_jsonl(ctx.path(run_paths.EVAL_PREDICTIONS)),
                read_jsonl(ctx.path(run_paths.TRAIN)),
                tokens_by_stage(ctx.run_dir, ctx.teacher.ledger),
            ),
        )
        write_text(ctx.path(run_paths.MODEL_CARD), render_model_card(report))
        save_dataset(ctx.run_dir, report, prompts.digest(Synthesize.prompt_files + Verify.prompt_files))
