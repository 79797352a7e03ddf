"""Where llama.cpp's label scoring spends its time, and whether decoding several inputs in one batch
(llama.cpp sequences) would help: on the embedded SmolLM2 GGUF, for real SST-2 test inputs.

    python benchmarks/scoring_cost.py --limit 40

- per input: the first label (the input's prompt pass plus the label) and the second label (the KV
  cache holds the prompt: only the label is decoded), as p2m's llama.cpp backend scores them;
- batched: the same prompts decoded one per call vs `--sequences` per call (distinct sequence ids in one
  batch, a llama context with that many sequences and a unified KV cache), milliseconds per prompt,
  the two alternating, median of --repeats.
Prints one JSON object (last line).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from common import TASKS, machine, sampled_rows

from p2m.teacher.files import resolve
from p2m.teacher.llamacpp import LlamaCppBackend, continuation_logprobs


def per_label_ms(llm, prompts: list[list[int]]) -> dict:
    first = second = 0.0
    positive, negative = (llm.tokenize(label.encode(), add_bos=False) for label in (" positive", " negative"))
    for prefix in prompts:
        started = time.perf_counter()
        continuation_logprobs(llm, prefix, positive)
        middle = time.perf_counter()
        continuation_logprobs(llm, prefix, negative)
        first, second = first + middle - started, second + time.perf_counter() - middle
    return {
        "first_label_ms": round(first / len(prompts) * 1000, 1),
        "second_label_ms": round(second / len(prompts) * 1000, 1),
        "prompt_tokens": round(sum(map(len, prompts)) / len(prompts), 1),
    }


def batched_ms(llm, prompts: list[list[int]], sequences: int, repeats: int) -> dict:
    """ms per prompt: one prompt per decode vs `sequences` prompts per decode."""
    from llama_cpp import _internals

    params = llm.context_params
    params.n_seq_max, params.kv_unified = sequences, True
    ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
    batch = _internals.LlamaBatch(
        n_tokens=max(512, sum(map(len, prompts[:sequences]))), embd=0, n_seq_max=sequences, verbose=False
    )

    def decode(group: list[list[int]]) -> None:
        ctx.kv_cache_clear()
        batch.reset()
        for seq, tokens in enumerate(group):
            for position, token in enumerate(tokens):
                j = batch.batch.n_tokens
                batch.batch.token[j], batch.batch.pos[j], batch.batch.n_seq_id[j] = token, position, 1
                batch.batch.seq_id[j][0], batch.batch.logits[j] = seq, position == len(tokens) - 1
                batch.batch.n_tokens += 1
        ctx.decode(batch)

    groups = [prompts[i : i + sequences] for i in range(0, len(prompts) - sequences + 1, sequences)]
    timings: dict[str, list[float]] = {"one_per_decode": [], f"{sequences}_per_decode": []}
    for _ in range(repeats):
        for name, run in (
            ("one_per_decode", lambda: [decode([p]) for g in groups for p in g]),
            (f"{sequences}_per_decode", lambda: [decode(g) for g in groups]),
        ):
            started = time.perf_counter()
            run()
            timings[name].append((time.perf_counter() - started) * 1000 / (len(groups) * sequences))
    return {name: round(statistics.median(values), 1) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=40, help="real SST-2 test inputs")
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    llm = LlamaCppBackend(resolve("smollm2-135m"), "smollm2-135m").load()
    texts = [row["input"] for row in sampled_rows(TASKS["sst2"], "test", args.limit)]
    prompts = [
        llm.tokenize(f"Task: {TASKS['sst2']['task']}\nInput: {t}\nLabel:".encode(), add_bos=True, special=True)
        for t in texts
    ]
    out = {
        "machine": machine(),
        "limit": args.limit,
        **per_label_ms(llm, prompts),
        **batched_ms(llm, prompts, args.sequences, args.repeats),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
