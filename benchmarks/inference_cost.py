"""Teacher vs student inference time per example, measured side by side on the same inputs.

    python benchmarks/inference_cost.py RUN_DIR --test FILE.jsonl --limit 32

`p2m eval` reports the teacher's latency as recorded when each call was made, and a cached call keeps
the figure of its first run, taken under whatever load the machine had then. This times both now, in
one process, on the same inputs: the teacher's requests as the evaluation makes them (without the
top log-probabilities verification asks for), sent straight to its backend (no cache), alternating
with the student; each side batched (16 a batch, as a service would run them), the median of
--repeats. The student is timed a second time as it is deployed: a causal student as its GGUF export
(`p2m export --format gguf`, made if missing) in llama.cpp with the teacher's thread count, one request
at a time as the teacher's llama.cpp backend answers (the same runtime on both sides, so that ratio
compares the models' compute); an encoder student (classifier, span extractor) as its ONNX export
(`p2m export --format onnx`, made if missing) in ONNX Runtime, batched as in torch. The export's check
(its answers against torch's on the held-out rows) is reported beside it.
Prints one JSON object (last line).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from p2m import Pipeline, run_paths
from p2m.config import load_pairs
from p2m.errors import P2MError
from p2m.export.gguf import GgufStudent, export_gguf
from p2m.export.onnx import OnnxStudent, export_onnx
from p2m.files import read_json
from p2m.student.model import Student
from p2m.teacher.answers import teacher_requests


def seconds(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def exported_student(run_dir: Path, student: Student) -> tuple[str, object, float] | None:
    """The student as it is deployed: a causal student's GGUF in llama.cpp, an encoder student's ONNX in
    ONNX Runtime (each exported if missing), with the share of held-out inputs on which the export
    answers as torch does; None where the export was not kept (it answered otherwise)."""
    if student.kind.export_format == "gguf":
        if not (run_dir / run_paths.GGUF / "model.gguf").exists():
            export_gguf(run_dir)
        check = read_json(run_dir / run_paths.GGUF / "check.json")
        return "gguf", GgufStudent(run_dir / run_paths.GGUF / "model.gguf", student.meta), check["exact_match_rate"]
    if not (run_dir / run_paths.ONNX / "model.onnx").exists():
        try:
            export_onnx(run_dir)
        except P2MError as error:
            print(f"no ONNX timing: {error}", file=sys.stderr)
            return None
    check = read_json(run_dir / run_paths.ONNX / "check.json")
    return "onnx", OnnxStudent(run_dir / run_paths.ONNX), round(check["same_output"] / check["n"], 4)


def side_by_side(run_dir: str | Path, texts: list[str], repeats: int = 3) -> dict:
    """Milliseconds per example for the run's teacher and student on `texts`, and their ratio (also
    for the student's export: GGUF in llama.cpp, or ONNX in ONNX Runtime)."""
    run_dir = Path(run_dir)
    pipeline = Pipeline.open(run_dir)
    backend, spec = pipeline.teacher.backend, pipeline.ctx.spec()
    requests = [replace(teacher_requests(spec, text, votes=0)[0], top_logprobs=0) for text in texts]
    student = Student(run_dir / "model")
    sides = {"teacher": lambda: backend.generate(requests), "student": lambda: student.predict(texts)}
    if exported := exported_student(run_dir, student):
        form, deployed, same_answers = exported
        sides[f"student_{form}"] = lambda: deployed.predict(texts)
    backend.generate(requests[:1])  # load and warm up each side
    student.predict(texts[:1])
    if exported:
        deployed.predict(texts[:1])
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, call in sides.items():
            times[name].append(seconds(call))
    ms = {name: statistics.median(s) * 1000 / len(texts) for name, s in times.items()}
    out = {
        "n": len(texts),
        "repeats": repeats,
        "teacher_ms": round(ms["teacher"], 2),
        "student_ms": round(ms["student"], 2),
        "teacher_over_student": round(ms["teacher"] / ms["student"], 1),
    }
    if exported:
        out |= {
            f"student_{form}_ms": round(ms[f"student_{form}"], 2),
            f"teacher_over_student_{form}": round(ms["teacher"] / ms[f"student_{form}"], 1),
            f"{form}_same_answer_as_torch": same_answers,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--test", required=True, help="JSONL file with the inputs (field 'input' or --input-field)")
    parser.add_argument("--input-field")
    parser.add_argument("--limit", type=int, default=32, help="inputs timed")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    texts = [row["input"] for row in load_pairs(args.test, args.input_field, kind="test")[: args.limit]]
    print(json.dumps(side_by_side(args.run_dir, texts, args.repeats)))


if __name__ == "__main__":
    main()
