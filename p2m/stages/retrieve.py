"""Retrieve: pick the student model (student.json) with BM25 over the student registry."""

from __future__ import annotations

from p2m.files import write_json
from p2m.pipeline import RunContext, Stage
from p2m.retrieval.students import rank_students, resolve_student


class Retrieve(Stage):
    name = "retrieve"
    config_fields = ("student",)
    outputs = ("student.json",)

    def run(self, ctx: RunContext) -> None:
        spec = ctx.spec()
        chosen = resolve_student(ctx.config.student, spec)
        candidates = [c.to_dict() for c in rank_students(spec)]
        ctx.progress.log(f"student: {chosen.id} ({chosen.why})")
        write_json(ctx.path("student.json"), {"chosen": chosen.to_dict(), "candidates": candidates})
