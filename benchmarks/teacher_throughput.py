"""Teacher throughput: the same model (SmolLM2-135M-Instruct, the embedded GGUF) through llama.cpp and
through transformers, side by side in one run.

    python benchmarks/teacher_throughput.py --limit 32

- generation: sampled chat answers of up to 48 tokens; completion tokens per second. transformers
  generates in batches of 16 (its fast mode on CPU), llama.cpp one request after another;
- scoring: log P(label | prompt, input) for real test inputs and each label, the verify stage's
  label-likelihood requests; requests per second, for a 2-label task (SST-2) and a 6-label one
  (TREC-coarse): llama.cpp evaluates an input once for all its labels, transformers once per label.
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

from common import TASKS, TREC, machine, sampled_rows, write_readme_block

from p2m.embedded import SMOLLM2_ID
from p2m.spec import TaskSpec
from p2m.teacher.answers import label_requests
from p2m.teacher.calls import ChatRequest
from p2m.teacher.files import resolve
from p2m.teacher.llamacpp import LlamaCppBackend
from p2m.teacher.local import LocalBackend

TABLE_START, TABLE_END = "<!-- teacher_throughput: start -->", "<!-- teacher_throughput: end -->"


def chat_requests(n: int) -> list[ChatRequest]:
    return [
        ChatRequest((("user", f"Write one short movie review, number {i}."),), temperature=0.8, max_tokens=48, seed=i)
        for i in range(n)
    ]


def generation_tok_s(backend, requests: list[ChatRequest]) -> float:
    started = time.perf_counter()
    responses = backend.generate(requests)
    return sum(r.completion_tokens for r in responses) / (time.perf_counter() - started)


def scoring_req_s(backend, requests: list) -> float:
    started = time.perf_counter()
    backend.score(requests)
    return len(requests) / (time.perf_counter() - started)


SCORED_TASKS = {"sst2": ["positive", "negative"], "trec_coarse": list(TREC.values())}  # 2 and 6 labels


def scoring_sets(limit: int) -> dict[str, list]:
    """Each task's label-likelihood requests for `limit` real test inputs."""
    return {
        name: label_requests(
            TaskSpec(instruction=TASKS[name]["task"], task_type="classification", labels=labels),
            [r["input"] for r in sampled_rows(TASKS[name], "test", limit)],
        )
        for name, labels in SCORED_TASKS.items()
    }


def measure(backends: dict, chats: list, scores: dict, repeats: int) -> dict:
    """Median over `repeats` of each figure, the backends alternating."""
    keys = ["generation_tok_s", *(f"scoring_req_s_{task}" for task in scores)]
    measured = {name: {key: [] for key in keys} for name in backends}
    for _ in range(repeats):
        for name, backend in backends.items():
            measured[name]["generation_tok_s"].append(generation_tok_s(backend, chats))
            for task, requests in scores.items():
                measured[name][f"scoring_req_s_{task}"].append(scoring_req_s(backend, requests))
    return {name: {k: round(statistics.median(v), 1) for k, v in m.items()} for name, m in measured.items()}


def readme_table(out: dict) -> str:
    result, ratios, tasks = out["results"], out["llama_cpp_over_transformers"], list(SCORED_TASKS)
    lines = [
        f"`python benchmarks/teacher_throughput.py --limit {out['limit']}`, {out['date']}, {out['machine']}; "
        f"SmolLM2-135M-Instruct (the embedded Q4_1 GGUF; transformers de-quantizes it), median of {out['repeats']}.",
        "",
        "| backend | generation tok/s | "
        + " | ".join(f"scoring requests/s, {t} ({len(SCORED_TASKS[t])} labels)" for t in tasks)
        + " |",
        "|---" * (2 + len(tasks)) + "|",
    ]
    lines += [
        f"| {name} | {r['generation_tok_s']} | " + " | ".join(str(r[f"scoring_req_s_{t}"]) for t in tasks) + " |"
        for name, r in result.items()
    ]
    lines.append("| llama.cpp / transformers | " + " | ".join(f"{ratios[k]}x" for k in ratios) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=32, help="generation requests, and test inputs to score per task")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    scores, chats = scoring_sets(args.limit), chat_requests(args.limit)
    backends = {
        "llama.cpp": LlamaCppBackend(resolve("smollm2-135m"), "smollm2-135m"),
        "transformers": LocalBackend(SMOLLM2_ID, batch_size=16),
    }
    for backend in backends.values():  # load and warm up
        backend.generate(chats[:1])
        backend.score(scores["sst2"][:2])
    result = measure(backends, chats, scores, args.repeats)
    ratios = {k: round(result["llama.cpp"][k] / result["transformers"][k], 2) for k in result["llama.cpp"]}
    out = {
        "date": date.today().isoformat(),
        "machine": machine(),
        "limit": args.limit,
        "repeats": args.repeats,
        "results": result,
        "llama_cpp_over_transformers": ratios,
    }
    if not args.no_readme:
        write_readme_block(TABLE_START, TABLE_END, readme_table(out))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
