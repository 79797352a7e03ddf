"""A server teacher at 1 and at N requests in flight: the synthesize stage's wall time through a real
OpenAI-compatible server on loopback (llama-cpp-python's, serving the embedded SmolLM2 GGUF), and
whether that server passes p2m's scoring probe (its echoed prompt log-probabilities must match its own
generation's).

    python benchmarks/server_teacher.py --limit 24 --concurrency 8

Each setting runs in a fresh p2m cache, so every request reaches the server; the same seeds, so the
same requests. Prints one JSON object (last line) and writes the README table between its markers
(not with --no-readme).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import date

from common import machine, write_readme_block

from p2m import Pipeline, RunConfig
from p2m.files import read_json
from p2m.testing.servers import start_llama_server

TABLE_START, TABLE_END = "<!-- server_teacher: start -->", "<!-- server_teacher: end -->"
TASK = "Classify movie reviews as positive or negative"


def synthesize_seconds(base_url: str, limit: int, concurrency: int) -> tuple[float, bool]:
    """Wall seconds of the synthesize stage, and whether the teacher scored text."""
    with tempfile.TemporaryDirectory() as work:
        os.environ["P2M_CACHE_DIR"] = work
        config = RunConfig(
            task=TASK,
            num_examples=limit,
            votes=1,
            out=f"{work}/run",
            teacher_base_url=base_url,
            teacher_concurrency=concurrency,
        )
        pipeline = Pipeline(config)
        pipeline.run(until="synthesize")
        return read_json(pipeline.run_dir / "stages.json")["synthesize"]["seconds"], pipeline.teacher.can_score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=24, help="synthetic examples to generate")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    process, base_url = start_llama_server()
    try:
        one, scores = synthesize_seconds(base_url, args.limit, 1)
        many, _ = synthesize_seconds(base_url, args.limit, args.concurrency)
    finally:
        process.terminate()
    out = {
        "date": date.today().isoformat(),
        "machine": machine(),
        "limit": args.limit,
        "server": "llama-cpp-python server, SmolLM2-135M Q4_1",
        "synthesize_s": {"1": one, str(args.concurrency): many},
        "speedup": round(one / many, 2),
        "server_scores_text": scores,
    }
    if not args.no_readme:
        write_readme_block(TABLE_START, TABLE_END, readme_table(out, args.concurrency))
    print(json.dumps(out))


def readme_table(out: dict, concurrency: int) -> str:
    return (
        f"`python benchmarks/server_teacher.py --limit {out['limit']} --concurrency {concurrency}`, {out['date']}, {out['machine']}; "
        f"{out['server']}.\n\n| requests in flight | synthesize s ({out['limit']} examples) |\n|---|---|\n"
        f"| 1 | {out['synthesize_s']['1']} |\n| {concurrency} | {out['synthesize_s'][str(concurrency)]} |\n"
        f"| speed-up | {out['speedup']}x |\n\nScoring probe: "
        + (
            "passed: the verifiers read this server's likelihoods.\n"
            if out["server_scores_text"]
            else "failed: the verifiers read this server's votes and first-token probabilities.\n"
        )
    )


if __name__ == "__main__":
    main()
