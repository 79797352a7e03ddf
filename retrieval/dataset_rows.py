"""Real rows from existing datasets, converted to the task's (input, output) format.

A source is a Hub id (`load_dataset`, online), a directory written by `save_to_disk`, a local
JSONL/JSON/CSV/Parquet file, or a finished p2m run directory (its data/hf dataset). Only a training split is ever read (never test or validation), so real
rows cannot leak into p2m's held-out evaluation. The teacher maps the dataset's columns to the task
(and, for classification, the dataset's label values to the spec's labels); the mapping is validated
against the real columns and values, and a bad one is sent back for repair, then replaced by the
obvious mapping from the column values or names if there is one. A source that is gated, missing, empty or cannot be
mapped is skipped with a message; the others are combined and de-duplicated.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from p2m import prompts, run_paths
from p2m.dedup import normalize
from p2m.errors import P2MError
from p2m.spec import TaskSpec
from p2m.teacher.calls import Teacher
from p2m.teacher.structured import InvalidAnswer, ask_json, json_schema

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}
INPUT_NAMES = ("input", "text", "source", "document", "article", "question", "sentence", "content", "prompt", "query")
OUTPUT_NAMES = ("output", "target", "summary", "answer", "answers", "translation", "label", "response", "completion")


class SkipDataset(P2MError):
    """This source cannot be used; the message says why. Other sources go on."""


@dataclass
class ColumnMapping:
    input_column: str
    output_column: str
    label_map: dict[str, str] = field(default_factory=dict)  # dataset value -> spec label (classification)
    by: str = field(default="teacher", metadata={"answer": False})  # "teacher" or "column names"


MAPPING_SCHEMA = json_schema(ColumnMapping, required=("input_column", "output_column"))


def local_source(source: str) -> Path:
    """A source's local path: a p2m run directory stands for its data/hf dataset."""
    path = Path(source)
    return path / run_paths.DATASET if (path / run_paths.CONFIG).exists() else path


def load_train_split(source: str, offline: bool):
    """The training split of `source` as a `datasets.Dataset`."""
    import datasets

    path = local_source(source)
    if path.name == Path(run_paths.DATASET).name and not path.exists():
        raise SkipDataset(f"{source}: a p2m run without {run_paths.DATASET} yet; finish it with p2m run")
    try:
        if path.is_dir():
            loaded = datasets.load_from_disk(str(path))
        elif path.suffix.lower() in FILE_BUILDERS:
            options = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
            loaded = datasets.load_dataset(
                FILE_BUILDERS[path.suffix.lower()], data_files={"train": str(path)}, **options
            )
        elif path.exists():
            raise SkipDataset(
                f"{source}: unsupported file type (use JSONL, JSON, CSV, TSV, Parquet or a save_to_disk folder)"
            )
        elif offline:
            raise SkipDataset(f"{source}: not a local file or folder, and the Hub is offline")
        else:
            loaded = datasets.load_dataset(source)
    except SkipDataset:
        raise
    except Exception as error:  # gated, missing, malformed: each library raises its own type
        reason = (
            "gated: accept its terms on the Hub and log in"
            if "gated" in str(error).lower()
            else f"{type(error).__name__}: {str(error)[:160]}"
        )
        raise SkipDataset(f"{source}: cannot load ({reason})") from None
    if isinstance(loaded, datasets.DatasetDict):
        splits = [name for name in loaded if "test" not in name and "valid" not in name and "dev" not in name]
        if not splits:
            raise SkipDataset(f"{source}: has only {', '.join(loaded)} splits; p2m never trains on those")
        loaded = loaded["train" if "train" in splits else splits[0]]
    if len(loaded) == 0:
        raise SkipDataset(f"{source}: is empty")
    return loaded


def label_values(dataset, column: str, limit: int = 50) -> list[str]:
    """The distinct values of a label column as text (ClassLabel ids become their names)."""
    feature = dataset.features.get(column)
    if hasattr(feature, "names"):
        return list(feature.names)
    values = dict.fromkeys(str(v) for v in dataset.select(range(min(len(dataset), 2000)))[column])
    return list(values)[:limit]


def validate_mapping(data: dict, dataset, spec: TaskSpec) -> ColumnMapping:
    """A mapping whose columns exist and, for classification, whose targets are the spec's labels."""
    columns = list(dataset.column_names)
    mapping = ColumnMapping(
        str(data.get("input_column", "")),
        str(data.get("output_column", "")),
        {str(k): str(v) for k, v in (data.get("label_map") or {}).items()},
    )
    for role in ("input_column", "output_column"):
        if getattr(mapping, role) not in columns:
            raise InvalidAnswer(f"{role} {getattr(mapping, role)!r} is not a column; the columns are {columns}")
    if mapping.input_column == mapping.output_column:
        raise InvalidAnswer("input_column and output_column must differ")
    if spec.kind.labelled:
        values = label_values(dataset, mapping.output_column)
        lower = {l.lower(): l for l in spec.labels}
        label_map = {v: lower[t.lower()] for v, t in mapping.label_map.items() if v in values and t.lower() in lower}
        label_map = label_map or {v: lower[v.lower()] for v in values if v.lower() in lower}
        if not label_map:
            raise InvalidAnswer(
                f"label_map must map the values of {mapping.output_column!r} ({values[:12]}) to the labels {spec.labels}"
            )
        mapping.label_map = label_map
    return mapping


def guess_mapping(dataset, spec: TaskSpec) -> ColumnMapping | None:
    """The obvious mapping without the teacher. Classification: the output is the column whose values
    are the spec's labels, the input the remaining text column with the longest texts. Otherwise by
    column name ('text' -> 'summary')."""
    names = list(dataset.column_names)
    if spec.kind.labelled:
        wanted = {l.lower() for l in spec.labels}
        overlap = {c: len(wanted & {v.lower() for v in label_values(dataset, c)}) for c in names}
        target = max(names, key=overlap.get)
        sample = dataset.select(range(min(len(dataset), 200)))
        texts = [c for c in names if c != target and all(isinstance(v, str) for v in sample[c])]
        source = max(texts, key=lambda c: sum(len(v) for v in sample[c]), default=None) if overlap[target] else None
    else:
        lowered = [c.lower() for c in names]
        source, target = (
            next((names[lowered.index(n)] for n in candidates if n in lowered), None)
            for candidates in (INPUT_NAMES, OUTPUT_NAMES)
        )
    if not source or not target:
        return None
    try:
        mapping = validate_mapping({"input_column": source, "output_column": target}, dataset, spec)
    except InvalidAnswer:
        return None
    mapping.by = "column values" if spec.kind.labelled else "column names"
    return mapping


def map_columns(teacher: Teacher, dataset, spec: TaskSpec, source: str) -> ColumnMapping:
    """The teacher's mapping of the dataset's columns to the task, unless they are input/output already
    (a p2m run's data, or data in p2m's own format): no call is spent on an answer we can read."""
    try:
        mapping = validate_mapping({"input_column": "input", "output_column": "output"}, dataset, spec)
        mapping.by = "column names"
        return mapping
    except InvalidAnswer:
        pass
    sample = {k: (str(v)[:200]) for k, v in dataset[0].items()}
    values = {c: label_values(dataset, c, 12) for c in dataset.column_names if hasattr(dataset.features[c], "names")}
    messages = prompts.chat(
        "map_columns",
        instruction=spec.instruction,
        task_type=spec.task_type,
        labels=", ".join(spec.labels) or "(none: free text)",
        columns=", ".join(dataset.column_names),
        row=json.dumps(sample, ensure_ascii=False),
        label_values=json.dumps(values, ensure_ascii=False),
    )
    mapping, errors = ask_json(
        teacher, messages, MAPPING_SCHEMA, lambda data: validate_mapping(data, dataset, spec), max_tokens=200
    )
    mapping = mapping or guess_mapping(dataset, spec)
    if mapping is None:
        raise SkipDataset(
            f"{source}: could not map its columns {dataset.column_names} to the task ({errors[-1] if errors else 'no answer'})"
        )
    return mapping


def to_rows(dataset, mapping: ColumnMapping, spec: TaskSpec, source: str, limit: int) -> list[dict]:
    """(input, output) rows in the task's format; classification rows whose label maps to none are dropped."""
    feature = dataset.features[mapping.output_column]
    rows = []
    for i, record in enumerate(dataset):
        text, target = str(record[mapping.input_column] or "").strip(), record[mapping.output_column]
        target = feature.names[target] if hasattr(feature, "names") and isinstance(target, int) else str(target)
        if spec.kind.labelled:
            target = mapping.label_map.get(target)
        if text and target:
            rows.append({"id": f"{source}#{i}", "input": text, "output": target, "source": f"dataset:{source}"})
        if len(rows) >= limit:
            break
    return rows


def collect(
    sources: list[str], teacher: Teacher, spec: TaskSpec, limit: int, offline: bool, log=print
) -> tuple[list[dict], list[dict]]:
    """Rows from every usable source, merged without duplicates, and a report per source."""
    rows, report, seen = [], [], set()
    for source in sources:
        try:
            dataset = load_train_split(source, offline)
            mapping = map_columns(teacher, dataset, spec, source)
        except SkipDataset as error:
            log(f"datasets: skipped {error}")
            report.append({"source": source, "skipped": str(error)})
            continue
        fresh = []
        for row in to_rows(dataset, mapping, spec, source, limit):
            if normalize(row["input"]) not in seen:
                seen.add(normalize(row["input"]))
                fresh.append(row)
        rows += fresh
        log(
            f"datasets: {len(fresh)} rows from {source} ({mapping.input_column} -> {mapping.output_column}, mapped by {mapping.by})"
        )
        report.append({"source": source, "rows": len(fresh), "mapping": asdict(mapping)})
    return rows, report
