"""Teacher vs student inference time per example, measured side by side on the same inputs.

    python benchmarks/inference_cost.py RUN_DIR --test FILE.jsonl --limit 32

`p2m eval` reports the teacher's latency as recorded when each call was made, and a cached call keeps
the figure of its first run, taken under whatever load the machine had then. This times both now, in
one process, on the same inputs: the teacher's requests as the evaluation makes them (without the
top log-probabilities verification asks for), sent straight to its backend (no cache), alternating
with the student; each side batched (16 a batch, as a service would run them), the median of
--repeats. Prints one JSON object (last line).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

from p2m import Pipeline
from p2m.config import load_pairs
from p2m.teacher.answers import teacher_requests
from p2m.student.model import Student


def seconds(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def side_by_side(run_dir: str | Path, texts: list[str], repeats: int = 3) -> dict:
    """Milliseconds per example for the run's teacher and student on `texts`, and their ratio."""
    pipeline = Pipeline.open(run_dir)
    backend, spec = pipeline.teacher.backend, pipeline.ctx.spec()
    requests = [replace(teacher_requests(spec, text, votes=0)[0], top_logprobs=0) for text in texts]
    student = Student(Path(run_dir) / "model")
    backend.generate(requests[:1])  # load and warm up both
    student.predict(texts[:1])
    teacher_s, student_s = [], []
    for _ in range(repeats):
        teacher_s.append(seconds(lambda: backend.generate(requests)))
        student_s.append(seconds(lambda: student.predict(texts)))
    teacher_ms, student_ms = (statistics.median(s) * 1000 / len(texts) for s in (teacher_s, student_s))
    return {"n": len(texts), "repeats": repeats, "teacher_ms": round(teacher_ms, 2), "student_ms": round(student_ms, 2),
            "teacher_over_student": round(teacher_ms / student_ms, 1)}


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
