"""Teacher throughput: the same model (SmolLM2-135M-Instruct, the embedded GGUF) through llama.cpp and
through transformers, side by side in one run.

    python benchmarks/teacher_throughput.py --limit 32

- generation: sampled chat answers of up to 48 tokens; completion tokens per second. transformers
  generates in batches of 16 (its fast mode on CPU), llama.cpp one request after another;
- scoring: log P(label | prompt, input) for real SST-2 test inputs and both labels, the verify stage's
  label-likelihood requests; requests per second.
No cache: every request goes to the backend. Each measurement is the median of --repeats runs, the two
backends alternating. Prints one JSON object (last line) and writes the README table between its
markers (not with --no-readme).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import date

from p2m.embedded import SMOLLM2_ID
from p2m.llm import ChatRequest
from p2m.llm_llamacpp import LlamaCppBackend
from p2m.llm_local import LocalBackend
from p2m.spec import TaskSpec
from p2m.stages.verify import label_requests
from p2m.teacher_files import resolve
from run_all import TASKS, machine, sampled_rows, write_readme_block

TABLE_START, TABLE_END = "<!-- teacher_throughput: start -->", "<!-- teacher_throughput: end -->"


def chat_requests(n: int) -> list[ChatRequest]:
    return [ChatRequest((("user", f"Write one short movie review, number {i}."),), temperature=0.8, max_tokens=48, seed=i)
            for i in range(n)]


def generation_tok_s(backend, requests: list[ChatRequest]) -> float:
    started = time.perf_counter()
    responses = backend.generate(requests)
    return sum(r.completion_tokens for r in responses) / (time.perf_counter() - started)


def scoring_req_s(backend, requests: list) -> float:
    started = time.perf_counter()
    backend.score(requests)
    return len(requests) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=32, help="generation requests, and SST-2 inputs to score")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    task = TASKS["sst2"]
    spec = TaskSpec(instruction=task["task"], task_type="classification", labels=["positive", "negative"])
    scores = label_requests(spec, [r["input"] for r in sampled_rows(task, "test", args.limit)])
    chats = chat_requests(args.limit)
    backends = {"llama.cpp": LlamaCppBackend(resolve("smollm2-135m"), "smollm2-135m"), "transformers": LocalBackend(SMOLLM2_ID, batch_size=16)}
    for backend in backends.values():  # load and warm up
        backend.generate(chats[:1])
        backend.score(scores[:2])
    measured = {name: {"generation_tok_s": [], "scoring_req_s": []} for name in backends}
    for _ in range(args.repeats):
        for name, backend in backends.items():
            measured[name]["generation_tok_s"].append(generation_tok_s(backend, chats))
            measured[name]["scoring_req_s"].append(scoring_req_s(backend, scores))
    result = {name: {k: round(statistics.median(v), 1) for k, v in m.items()} for name, m in measured.items()}
    ratios = {k: round(result["llama.cpp"][k] / result["transformers"][k], 2) for k in ("generation_tok_s", "scoring_req_s")}
    out = {"date": date.today().isoformat(), "machine": machine(), "limit": args.limit, "repeats": args.repeats,
           "results": result, "llama_cpp_over_transformers": ratios}
    if not args.no_readme:
        lines = [f"`python benchmarks/teacher_throughput.py --limit {args.limit}`, {out['date']}, {out['machine']}; "
                 f"SmolLM2-135M-Instruct (the embedded Q4_1 GGUF; transformers de-quantizes it), median of {args.repeats}.", "",
                 "| backend | generation tok/s | scoring requests/s |", "|---|---|---|"]
        lines += [f"| {name} | {r['generation_tok_s']} | {r['scoring_req_s']} |" for name, r in result.items()]
        lines.append(f"| llama.cpp / transformers | {ratios['generation_tok_s']}x | {ratios['scoring_req_s']}x |")
        write_readme_block(TABLE_START, TABLE_END, "\n".join(lines) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
