"""Embedded teacher throughput: batched vs one-at-a-time generation, side by side in one run.

    python benchmarks/teacher_throughput.py --limit 8

Prints one JSON object (last line): completion tokens/s for each mode and their ratio. No cache is
used: every request goes to the backend.
"""

from __future__ import annotations

import argparse
import json
import time

from p2m.llm import ChatRequest
from p2m.llm_local import LocalBackend


def requests(n: int) -> list[ChatRequest]:
    return [ChatRequest((("user", f"Write one short movie review, number {i}."),), temperature=0.8, max_tokens=48, seed=i) for i in range(n)]


def tokens_per_s(backend: LocalBackend, batch: list[ChatRequest], one_by_one: bool) -> float:
    started = time.perf_counter()
    responses = [r for q in batch for r in backend.generate([q])] if one_by_one else backend.generate(batch)
    return sum(r.completion_tokens for r in responses) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=32, help="requests per mode")
    args = parser.parse_args()
    backend = LocalBackend(batch_size=16)
    backend.generate(requests(1))  # load and warm up
    batch = requests(args.limit)
    single = tokens_per_s(backend, batch, one_by_one=True)
    batched = tokens_per_s(backend, batch, one_by_one=False)
    print(json.dumps({"requests": args.limit, "single_tok_s": round(single, 1), "batched_tok_s": round(batched, 1),
                      "batched_over_single": round(batched / single, 2)}))


if __name__ == "__main__":
    main()
