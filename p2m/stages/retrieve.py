"""Retrieve: pick the student (student.json) and gather real rows from datasets (data/retrieved.jsonl).

The student search runs over the model catalog (registry, cached Hub snapshot, --catalog files, local
models) with the task and the teacher's hypothetical model card as the query. Dataset rows come from
`--datasets` sources ('auto' = the best matches in the dataset catalog); they join the training data,
marked by source, and seed the generator's few-shot examples.
"""

from __future__ import annotations

from pathlib import Path

from p2m import run_paths
from p2m.config import RunConfig
from p2m.files import write_json, write_jsonl
from p2m.retrieval.dataset_rows import collect, local_source
from p2m.retrieval.students import hypothetical_card, offline, rank_datasets, shortlist
from p2m.stages.base import RunContext, Stage

AUTO_DATASETS = 2


class Retrieve(Stage):
    name = "retrieve"
    version = 3  # auto: a student whose weights are on this machine first
    config_fields = ("student", "max_params", "catalog", "datasets", "dataset_rows")
    uses_teacher = True
    prompt_files = ("hypothetical_model_card", "map_columns", "repair_json")
    inputs = (run_paths.SPEC,)
    outputs = (run_paths.STUDENT, run_paths.RETRIEVED, run_paths.DATASETS)

    def external_files(self, config: RunConfig) -> list[Path]:
        """Local --datasets files and folders: an edited file is read again, not silently re-used."""
        return [local_source(source) for source in config.datasets if local_source(source).exists()]

    def run(self, ctx: RunContext) -> None:
        config, spec = ctx.config, ctx.spec()
        ctx.progress.task("searching the model catalog", total=None)
        card = hypothetical_card(ctx.teacher, spec) if config.student == "auto" else ""
        catalog = tuple(config.catalog)
        chosen, candidates = shortlist(spec, config.student, config.max_params, catalog, card)
        ctx.progress.log(f"student: {chosen.id} ({chosen.why})")
        if config.student == "auto" and candidates and candidates[0].id != chosen.id and not candidates[0].local:
            ctx.progress.log(
                f"the catalog's best match is {candidates[0].id} (not on this machine): --student {candidates[0].id}"
            )
        write_json(
            ctx.path(run_paths.STUDENT),
            {"chosen": chosen.to_dict(), "candidates": [c.to_dict() for c in candidates], "hypothetical_card": card},
        )

        sources = list(config.datasets)
        if "auto" in sources:
            hits = rank_datasets(spec, catalog, AUTO_DATASETS, card)
            sources = [s for s in sources if s != "auto"] + [h.id for h in hits]
        if sources:
            ctx.progress.task("loading dataset rows", total=None)
        rows, report = collect(sources, ctx.teacher, spec, config.dataset_rows, offline(), ctx.progress.log)
        write_jsonl(ctx.path(run_paths.RETRIEVED), rows)
        write_json(ctx.path(run_paths.DATASETS), report)
