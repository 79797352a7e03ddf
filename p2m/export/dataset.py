"""The run's data as a Hugging Face dataset: `data/hf/` is a `datasets.DatasetDict` (train, test,
rejected) with a dataset card, so the synthetic data can be loaded with `datasets.load_from_disk`,
pushed to the Hub (`--push-dataset-to-hub`), or reused by another run (`--datasets RUN_DIR`).

Rows are flattened for Arrow: nested verifier scores become `score_<verifier>` columns, other nested
values JSON text; every split has the same columns, absent values None."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from p2m import prompts, run_paths
from p2m.errors import P2MError
from p2m.files import read_jsonl
from p2m.tasks import kind_of

SPLITS = {"train": run_paths.TRAIN, "test": run_paths.TEST, "rejected": run_paths.REJECTED}
FIRST_COLUMNS = ("id", "input", "output", "source", "rejected")  # rejected: why verification dropped the row


def flat_row(row: dict) -> dict:
    """One JSONL row as Arrow-friendly scalars."""
    flat = {k: v for k, v in row.items() if k != "scores"}
    flat.update({f"score_{name}": value for name, value in (row.get("scores") or {}).items()})
    return {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v for k, v in flat.items()}


def column_types(rows: list[dict]) -> dict[str, type]:
    """float for columns whose values are all numbers, else str; FIRST_COLUMNS lead."""
    columns = dict.fromkeys(FIRST_COLUMNS)
    for row in rows:
        columns.update(dict.fromkeys(row))
    return {c: float if all(is_number(r[c]) for r in rows if r.get(c) is not None) else str for c in columns}


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def build_dataset_dict(run_dir: Path):
    """The three splits with one schema (missing values None)."""
    import datasets

    splits = {
        name: [flat_row(r) for r in read_jsonl(run_dir / path)] if (run_dir / path).exists() else []
        for name, path in SPLITS.items()
    }
    types = column_types([row for rows in splits.values() for row in rows])
    features = datasets.Features({c: datasets.Value("float64" if t is float else "string") for c, t in types.items()})
    return datasets.DatasetDict(
        {
            name: datasets.Dataset.from_dict(
                {c: [None if r.get(c) is None else t(r[c]) for r in rows] for c, t in types.items()}, features=features
            )
            for name, rows in splits.items()
        }
    )


def teacher_licence(teacher: dict) -> str:
    """What the teacher's outputs may be used for, as far as p2m knows it."""
    backend = teacher.get("backend", {})
    if backend.get("licence"):
        return f"{backend['licence']} (the teacher model's licence; check it covers your use of its outputs)"
    if backend.get("backend") == "openai" and not backend.get("base_url"):
        return "OpenAI's terms of use apply to outputs of its models"
    return "unknown: check the teacher model's licence and terms for its outputs"


def render_dataset_card(report: dict, dataset, prompt_digest: str, data_dir: Path) -> str:
    """data/hf/README.md: what the data is, who wrote it, how it was filtered."""
    spec, data, teacher = report["spec"], report["data"], report["teacher"]
    file = teacher.get("backend", {}).get("file") or {}
    balance = {name: dict(Counter(split["output"]).most_common()) for name, split in dataset.items()}
    values = dict(
        task=report["task"],
        task_type=spec["task_type"],
        instruction=spec["instruction"],
        labels=", ".join(spec["labels"]) or "(free text)",
        teacher=teacher["model"],
        teacher_file=f"`{Path(file['path']).name}`, sha256 `{file['sha256']}`"
        if file
        else "(served model: no file hash)",
        licence=teacher_licence(teacher),
        prompts_digest=prompt_digest,
        sizes=", ".join(f"{name} {len(split)}" for name, split in dataset.items()),
        candidates=data["candidates"],
        kept=data["kept"],
        removed=json.dumps(data.get("removed") or {}),
        balance=json.dumps(balance, ensure_ascii=False),
        columns=", ".join(f"`{c}`" for c in dataset["train"].column_names),
        data_dir=str(data_dir),
        task_category=kind_of(spec["task_type"]).hub_category,
    )
    return prompts.fill("dataset_card", **values)


def save_dataset(run_dir: Path, report: dict, prompt_digest: str) -> Path:
    """Write data/hf/ (the DatasetDict and its README.md); returns the folder."""
    dataset = build_dataset_dict(run_dir)
    target = run_dir / run_paths.DATASET
    dataset.save_to_disk(str(target))
    (target / "README.md").write_text(render_dataset_card(report, dataset, prompt_digest, target), encoding="utf-8")
    return target


def push_dataset(folder: Path, repo_id: str) -> str:
    """Upload data/hf/ as a Hub dataset repo (token from HF_TOKEN or `hf auth login`); returns its URL."""
    import datasets
    from huggingface_hub import DatasetCard

    try:
        datasets.load_from_disk(str(folder)).push_to_hub(repo_id, commit_message="p2m: synthetic dataset")
        DatasetCard.load(folder / "README.md").push_to_hub(repo_id, repo_type="dataset")
    except Exception as error:  # noqa: BLE001 -- the network boundary: offline, no token, no rights, bad repo id
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise P2MError(
            f"could not push {folder} to the Hub dataset {repo_id}: {first_line}; the run itself is complete"
        ) from None
    return f"https://huggingface.co/datasets/{repo_id}"
