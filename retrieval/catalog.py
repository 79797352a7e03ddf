"""The catalog: Hub metadata for models and datasets, from every source, merged by id.

Sources, in the order they are merged (a later source fills fields an earlier one left empty):
1. p2m's student registry (`students.json`, written by the project from published facts);
2. the snapshot of the live Hub that `p2m catalog refresh` writes to the p2m cache;
3. JSONL snapshot files given with `--catalog FILE`;
4. what is on this machine (the embedded models, the Hugging Face cache's models and datasets), marked `local`.

Retrieval itself never touches the network: offline it answers from what is on disk, at once.

Snapshot format (one JSON object per line; the first line may be a header `{"_snapshot": {...}}`):
  {"id", "downloads", "likes", "params", "size_bytes", "pipeline_tag", "tags", "datasets",
   "languages", "license", "arch", "description", "gated"}   -- every field but "id" optional.
Prompt2Model's model snapshot (`model_id`, `language`), HuggingGPT's (`id`, `meta` = card YAML) and
Prompt2Model's dataset index (one JSON object: id -> {description, evaluation_metadata}) load as they are.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from pathlib import Path

from p2m.embedded import EMBEDDED_PATHS, embedded_installed
from p2m.errors import P2MError
from p2m.files import cache_dir

# Pipeline tags -> architecture family, for text models; other modalities are "other".
_TAG_ARCH = {
    "text-generation": "causal",
    "conversational": "causal",
    "text2text-generation": "seq2seq",
    "summarization": "seq2seq",
    "translation": "seq2seq",
    "fill-mask": "encoder",
    "text-classification": "encoder",
    "token-classification": "encoder",
    "sentence-similarity": "encoder",
    "feature-extraction": "encoder",
    "zero-shot-classification": "encoder",
    "question-answering": "encoder",
    "table-question-answering": "other",
    "multiple-choice": "encoder",
}
_NAME_ARCH = [  # (pattern in the id or model_type, family), first match wins
    (r"t5|bart|pegasus|marian|opus-mt|m2m|nllb|prophetnet|led\b|bigbird-pegasus|fsmt", "seq2seq"),
    (r"gpt|llama|opt-|bloom|pythia|qwen|smollm|mistral|phi-?\d|gemma|falcon|codegen|rwkv|mpt", "causal"),
    (r"bert|roberta|deberta|electra|minilm|mpnet|xlm-r|albert|ernie|e5-|bge-|gte-|distil", "encoder"),
]
_TEXT_TAGS = set(_TAG_ARCH)


@dataclass
class CatalogEntry:
    id: str
    kind: str = "model"  # "model" or "dataset"
    description: str = ""
    pipeline_tag: str = ""
    tags: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    license: str = ""
    downloads: int | None = None  # None: unknown (registry, local); 0: nobody uses it
    likes: int | None = None
    params: int | None = None
    size_bytes: int | None = None
    arch: str = ""  # encoder | causal | seq2seq | other | "" (unknown)
    gated: bool = False
    local: bool = False  # weights/files on this machine
    curated: bool = False  # in p2m's student registry
    sources: list[str] = field(default_factory=list)
    columns: dict = field(default_factory=dict)  # datasets: known column mapping (e.g. text/label)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "", [], {}, False)}

    def merge(self, other: CatalogEntry) -> None:
        """Fill what this entry lacks from `other` (same id, another source)."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name == "sources":
                self.sources = list(dict.fromkeys(mine + theirs))
            elif f.name in ("local", "curated", "gated"):
                setattr(self, f.name, mine or theirs)
            elif mine in (None, "", [], {}):
                setattr(self, f.name, theirs)

    def estimated_params(self) -> int | None:
        """Parameters, or a guess from the weight bytes (fp32; repos often hold several formats, so
        this over-estimates, which errs on the side of the size limit)."""
        return self.params or (self.size_bytes // 4 if self.size_bytes else None)


def _as_list(value) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v).strip() for item in items for v in str(item).split(",") if str(v).strip()]


def infer_arch(pipeline_tag: str, tags: list[str], name: str, config: dict | None = None) -> str:
    """encoder / causal / seq2seq from the config's architectures, the pipeline tag, tags or the name."""
    architectures = " ".join((config or {}).get("architectures") or []).lower()
    if "forcausallm" in architectures or "lmheadmodel" in architectures:
        return "causal"
    if "forconditionalgeneration" in architectures or "seq2seq" in architectures:
        return "seq2seq"
    if re.search(r"for(sequenceclassification|maskedlm|tokenclassification)|bertmodel", architectures):
        return "encoder"
    for tag in [pipeline_tag, *tags]:
        if tag in _TAG_ARCH:
            return _TAG_ARCH[tag]
    if pipeline_tag:
        return "other"
    text = f"{name} {(config or {}).get('model_type', '')}".lower()
    for pattern, arch in _NAME_ARCH:
        if re.search(pattern, text):
            return arch
    return ""


# Tag prefixes that are facts about provenance and storage, not about what the model does.
UNDESCRIPTIVE_TAGS = ("arxiv", "base_model", "region", "size_categories", "doi", "format", "library", "modality")


def read_tags(row: dict, meta: dict) -> tuple[list[str], list[str], list[str], str]:
    """(tags, languages, datasets, license) from a row's tags, its card's tags and task categories:
    `language:`, `license:` and `dataset:` tags are read as such, provenance tags are dropped."""
    tags, languages, datasets_, license_ = (
        [],
        _as_list(row.get("languages") or row.get("language") or meta.get("language")),
        [],
        "",
    )
    for tag in _as_list(row.get("tags")) + _as_list(meta.get("tags")) + _as_list(meta.get("task_categories")):
        prefix, _, value = tag.partition(":")
        if value and prefix == "language":
            languages.append(value)
        elif value and prefix == "license":
            license_ = value
        elif value and prefix == "dataset":
            datasets_.append(value)
        elif not (value and prefix in UNDESCRIPTIVE_TAGS):
            tags.append(value if value and prefix in ("task_categories", "task_ids") else tag)
    return tags, languages, datasets_, license_


def entry_from_row(row: dict, kind: str = "model", source: str = "") -> CatalogEntry:
    """One catalog entry from a row in any of the formats the module docstring lists."""
    meta = row.get("meta") or row.get("cardData") or row.get("card_data") or {}
    entry_id = str(row.get("id") or row.get("model_id") or row.get("name") or "").strip()
    if not entry_id:
        raise ValueError("row has no id")
    tags, languages, datasets_, license_ = read_tags(row, meta)
    datasets_ += _as_list(row.get("datasets") or meta.get("datasets"))
    license_ = str(row.get("license") or meta.get("license") or license_ or "")
    pipeline_tag = str(row.get("pipeline_tag") or "")
    safetensors = row.get("safetensors") or {}
    config = row.get("config") if isinstance(row.get("config"), dict) else None
    description = re.sub(r"\s+", " ", str(row.get("description") or meta.get("description") or "")).strip()
    columns = {}
    for evaluation in row.get("evaluation_metadata") or []:
        columns = columns or dict(evaluation.get("col_mapping") or {})
        tags.append(str(evaluation.get("task") or ""))
    return CatalogEntry(
        id=entry_id,
        kind=kind,
        description=description,
        pipeline_tag=pipeline_tag,
        tags=list(dict.fromkeys(t for t in tags if t)),
        datasets=list(dict.fromkeys(datasets_)),
        languages=list(dict.fromkeys(l.lower() for l in languages)),
        license=license_.lower().strip("[]'\" "),
        downloads=row.get("downloads"),
        likes=row.get("likes"),
        params=row.get("params") or safetensors.get("total"),
        size_bytes=row.get("size_bytes") or row.get("usedStorage"),
        arch=row.get("arch") or (infer_arch(pipeline_tag, tags, entry_id, config) if kind == "model" else ""),
        gated=bool(row.get("gated")),
        local=bool(row.get("local")),
        curated=bool(row.get("curated")),
        sources=list(row.get("sources") or ([source] if source else [])),
        columns=columns,
    )


def read_snapshot(path: str | Path, kind: str = "model") -> list[CatalogEntry]:
    """Entries of a snapshot file (JSONL, or a JSON object of id -> record); bad rows are skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise P2MError(f"cannot read catalog file {path}: {getattr(error, 'strerror', None) or error}") from None
    source = f"snapshot:{path.name}"
    if text.lstrip().startswith("{") and "\n{" not in text.strip():  # one JSON object: an index id -> record
        try:
            index = json.loads(text)
        except json.JSONDecodeError as error:
            raise P2MError(f"cannot parse catalog file {path}: {error}") from None
        return [
            entry_from_row({"id": key, **value}, kind, source)
            for key, value in index.items()
            if isinstance(value, dict)
        ]
    entries = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
            if isinstance(row, dict) and "_snapshot" not in row:
                entries.append(entry_from_row(row, kind, source))
        except (json.JSONDecodeError, ValueError):
            continue
    if not entries and text.strip():
        raise P2MError(f"catalog file {path} holds no usable rows (expected JSONL with an 'id' per row)")
    return entries


def write_snapshot(path: Path, entries: list[CatalogEntry], origin: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.write(
            json.dumps(
                {
                    "_snapshot": {
                        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "source": origin,
                        "rows": len(entries),
                    }
                }
            )
            + "\n"
        )
        for entry in entries:
            out.write(json.dumps(entry.to_dict(), ensure_ascii=False) + "\n")
    tmp.replace(path)


def snapshot_path(kind: str) -> Path:
    return cache_dir() / "catalog" / f"{kind}s.jsonl"


@cache
def registry() -> tuple[CatalogEntry, ...]:
    rows = json.loads(Path(__file__).with_name("students.json").read_text())
    return tuple(entry_from_row({**row, "curated": True}, "model", "registry") for row in rows)


def local_entries(kind: str = "model") -> list[CatalogEntry]:
    """What is on this machine: the embedded models, and the Hugging Face cache's models or datasets."""
    entries = [
        CatalogEntry(id=model_id, local=True, sources=["embedded"])
        for model_id in EMBEDDED_PATHS
        if kind == "model" and embedded_installed(model_id)
    ]
    try:
        from huggingface_hub import scan_cache_dir

        repos = scan_cache_dir().repos
    except Exception:  # no cache dir yet, or an unreadable one: nothing local
        repos = []
    for repo in repos:
        if repo.repo_type == kind:
            entries.append(
                CatalogEntry(
                    id=repo.repo_id,
                    kind=kind,
                    local=True,
                    size_bytes=repo.size_on_disk,
                    sources=["hf-cache"],
                    arch=infer_arch("", [], repo.repo_id) if kind == "model" else "",
                )
            )
    return entries


def load_catalog(
    kind: str = "model", files: list[str | Path] = (), use_cache: bool = True, use_local: bool = True
) -> list[CatalogEntry]:
    """Every source merged by id (see the module docstring); `use_cache`/`use_local` off give a
    catalog that does not depend on this machine (benchmarks)."""
    merged: dict[str, CatalogEntry] = {}
    cached = snapshot_path(kind)
    groups = [
        [CatalogEntry(**asdict(e)) for e in registry()] if kind == "model" else [],
        read_snapshot(cached, kind) if use_cache and cached.exists() else [],
        *[read_snapshot(f, kind) for f in files],
        local_entries(kind) if use_local else [],
    ]
    for group in groups:
        for entry in group:
            if entry.id in merged:
                merged[entry.id].merge(entry)
            else:
                merged[entry.id] = entry
    return list(merged.values())
