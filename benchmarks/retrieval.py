"""Retrieval quality and speed: p2m's catalog search against Prompt2Model's retriever, same catalog.

    python benchmarks/retrieval.py --limit 10

Catalog: the real Hub snapshots in ../shared/data/hf_hub_catalog (11,320 Prompt2Model model cards +
673 HuggingGPT models + p2m's registry; 2,494 datasets), nothing from this machine. Queries: the
labelled set in retrieval_queries.json (40 model tasks, 20 dataset tasks). Both retrievers get the
same query text (the task) and the same size limit (3 GB of weights, Prompt2Model's default).

Baseline, as Prompt2Model does it: BM25 over each entry's whole description, score multiplied by
log10(downloads + 2), a size limit as the only constraint, the 'huggingtweets' namespace blocked.
It uses p2m's tokenizer, so the comparison measures documents, constraints and ranking, not stemming.

Prints one JSON object (last line): recall@1, recall@5 and MRR@5 for each, index build time over the
model snapshot, and the median query latency; writes the README table (not with --limit or --no-readme).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from datetime import date
from pathlib import Path

from common import machine, write_readme_block
from rank_bm25 import BM25Okapi

from p2m.retrieval.catalog import CatalogEntry, load_catalog
from p2m.retrieval.search import Constraints, Index, tokenize
from p2m.retrieval.students import constraints_for, query_for, spec_from_text

CATALOG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hf_hub_catalog"
QUERIES = Path(__file__).with_name("retrieval_queries.json")
SIZE_LIMIT_BYTES = 3_000_000_000
TABLE_START, TABLE_END = "<!-- retrieval: start -->", "<!-- retrieval: end -->"


class Prompt2ModelBaseline:
    def __init__(self, entries: list[CatalogEntry]):
        self.entries = [e for e in entries if not e.id.startswith("huggingtweets/")]
        self.bm25 = BM25Okapi([tokenize(e.description) or ["_"] for e in self.entries])

    def search(self, query: str, top_k: int = 5) -> list[str]:
        scores = self.bm25.get_scores(tokenize(query))
        ranked = []
        for entry, score in zip(self.entries, scores):
            size = entry.size_bytes or (entry.params * 4 if entry.params else None)
            if size is None or size <= SIZE_LIMIT_BYTES:
                ranked.append((score * math.log10((entry.downloads or 0) + 2), entry.id))
        ranked.sort(reverse=True)
        return [entry_id for _, entry_id in ranked[:top_k]]


def acceptable(entry: CatalogEntry | None, label: dict, general: list[str]) -> bool:
    if entry is None:
        return False
    if entry.id in label.get("ids", []) or (label.get("general") and entry.id in general):
        return True
    lowered = entry.id.lower()
    if any(part.lower() in lowered for part in label.get("id_contains", [])):
        return True
    facts = {t.lower() for t in [*entry.tags, entry.pipeline_tag, *entry.datasets]}
    return any(tag.lower() in facts for tag in label.get("tags", []))


def scores(ranked_ids: list[list[str]], labels: list[dict], by_id: dict, general: dict) -> dict:
    hits = []
    for ids, label in zip(ranked_ids, labels):
        task_type = spec_from_text(label["task"]).task_type
        pool = general["classification" if task_type == "classification" else "generation"]
        hits.append([acceptable(by_id.get(i), label, pool) for i in ids])
    ranks = [next((r for r, ok in enumerate(h, 1) if ok), None) for h in hits]
    return {
        "recall@1": round(sum(r == 1 for r in ranks) / len(ranks), 3),
        "recall@5": round(sum(r is not None and r <= 5 for r in ranks) / len(ranks), 3),
        "mrr@5": round(sum(1 / r for r in ranks if r) / len(ranks), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, help="only the first N model and dataset queries")
    parser.add_argument("--no-readme", action="store_true", help="do not write the table into README.md")
    args = parser.parse_args()
    if not CATALOG.exists():
        print(json.dumps({"skipped": f"no catalog snapshots at {CATALOG}"}))
        sys.exit(0)
    queries = json.loads(QUERIES.read_text())
    model_labels, dataset_labels = queries["models"][: args.limit], queries["datasets"][: args.limit]

    started = time.perf_counter()
    snapshot = load_catalog("model", [CATALOG / "p2m_models.jsonl"], use_cache=False, use_local=False)
    Index(snapshot)
    build_seconds = time.perf_counter() - started

    models = load_catalog(
        "model", [CATALOG / "p2m_models.jsonl", CATALOG / "jarvis_p0_models.jsonl"], use_cache=False, use_local=False
    )
    datasets_ = load_catalog("dataset", [CATALOG / "p2m_dataset_index.json"], use_cache=False, use_local=False)
    results = {}
    latencies = []
    for kind, entries, labels in (("models", models, model_labels), ("datasets", datasets_, dataset_labels)):
        index, baseline = Index(entries), Prompt2ModelBaseline(entries)
        ours, theirs = [], []
        for label in labels:
            spec = spec_from_text(label["task"])
            constraints = (
                constraints_for(spec, SIZE_LIMIT_BYTES // 4)
                if kind == "models"
                else Constraints(task_type=spec.task_type)
            )
            tick = time.perf_counter()
            ours.append([hit.id for hit in index.search(query_for(spec), constraints, 5)])
            latencies.append(time.perf_counter() - tick)
            theirs.append(baseline.search(label["task"]))
        by_id = {e.id: e for e in entries}
        results[kind] = {
            "queries": len(labels),
            "p2m": scores(ours, labels, by_id, queries["general"]),
            "prompt2model": scores(theirs, labels, by_id, queries["general"]),
            "examples": {
                label["task"]: {"p2m": o[:3], "prompt2model": t[:3]}
                for label, o, t in list(zip(labels, ours, theirs))[:3]
            },
        }
    out = {
        "catalog": {"models": len(models), "datasets": len(datasets_)},
        **results,
        "index_build_s": round(build_seconds, 3),
        "indexed_models": len(snapshot),
        "median_query_ms": round(statistics.median(latencies) * 1000, 2),
        "max_query_ms": round(max(latencies) * 1000, 2),
    }
    if not (args.limit or args.no_readme):
        write_readme_block(TABLE_START, TABLE_END, readme_table(out))
    print(json.dumps(out))


def readme_table(out: dict) -> str:
    def row(name: str, key: str) -> str:
        cells = [
            f"{out[kind][key][metric]:.3f}"
            for kind in ("models", "datasets")
            for metric in ("recall@1", "recall@5", "mrr@5")
        ]
        return f"| {name} | " + " | ".join(cells) + " |"

    return "\n".join(
        [
            f"`python benchmarks/retrieval.py`, {date.today()}, {machine()}; {out['catalog']['models']:,} models and "
            f"{out['catalog']['datasets']:,} datasets in the catalog, {out['models']['queries']} model and {out['datasets']['queries']} "
            "dataset queries.",
            "",
            "| | models R@1 | models R@5 | models MRR@5 | datasets R@1 | datasets R@5 | datasets MRR@5 |",
            "|---|---|---|---|---|---|---|",
            row("p2m", "p2m"),
            row("Prompt2Model retriever", "prompt2model"),
            "",
            f"Index build over the {out['indexed_models']:,}-model snapshot (load + BM25): {out['index_build_s']:.2f} s; "
            f"median query {out['median_query_ms']:.1f} ms (max {out['max_query_ms']:.0f} ms).",
            "",
        ]
    )


if __name__ == "__main__":
    main()
