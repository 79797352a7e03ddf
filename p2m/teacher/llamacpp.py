"""llama.cpp teacher backend: any GGUF model in-process through llama-cpp-python.

Why llama.cpp and not transformers for GGUF teachers: it runs the quantized weights as they are (a
1.5B model in 1.1 GB, ~14 tokens/s on 2 cores), and it keeps the evaluated prompt in its KV cache, so
requests that share a beginning (few-shot prompts, one input scored against L labels) pay for that
beginning once.

- Chat: the model's own chat template (`create_chat_completion`), per-request seed and temperature,
  top-k log-probabilities read from the logits of each sampled step, and a llama.cpp grammar built
  from the request's JSON schema, so structured answers are valid JSON on the first try.
- Scoring: log P(continuation | prefix) from one decode of the tokens not already in the KV cache,
  logits kept only at the continuation's positions.
- Threads = the cores this process may use; the context grows (the model reloaded) when a request
  needs more; the model is loaded once, on the first request that misses the cache.
"""

from __future__ import annotations

import atexit
import os
import re
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from p2m.errors import P2MError
from p2m.teacher.calls import ChatRequest, ChatResponse, ScoreRequest
from p2m.teacher.files import PRESETS, TeacherFile, remembered

MIN_CONTEXT = 4096
_LOADED: weakref.WeakSet[LlamaCppBackend] = weakref.WeakSet()  # closed at exit, when llama.cpp's own __del__ fails


@atexit.register
def _close_loaded() -> None:
    for backend in list(_LOADED):
        backend.close()


def cpu_threads() -> int:
    """Every core this process may use (llama.cpp's own default is half of them)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class LlamaCppBackend:
    name = "llama.cpp"
    price_per_mtok = None
    scores_text = True  # log-likelihoods read in-process
    streams_answers = False

    def __init__(self, file: TeacherFile, label: str):
        self.file = file
        self.label = label  # the preset name or file name the user gave
        self.model = f"{Path(label).name.removesuffix('.gguf')}@{file.sha256[:12]}"  # names the weights: cache keys, fingerprints
        self._llm = None
        self._n_ctx = MIN_CONTEXT

    def describe(self) -> dict:
        preset = PRESETS.get(self.label)
        return {
            "backend": self.name,
            "model": self.label,
            "file": self.file.provenance(),
            **({"licence": preset.licence} if preset else {}),
        }

    def on_each_request(self, report) -> bool:
        return False  # in-process: no request leaves for the Teacher to be told of

    def num_params(self) -> int:
        """Counted from the GGUF tensor shapes (once per file), without loading the model."""

        def count() -> int:
            from gguf import GGUFReader

            return int(sum(int(tensor.n_elements) for tensor in GGUFReader(str(self.file.path)).tensors))

        return remembered(self.file.path, "params", count)

    def load(self):
        if self._llm is None:
            from llama_cpp import Llama

            _LOADED.add(
                self
            )  # weakly: a backend no Pipeline holds any more frees its model (an atexit hook would keep it)
            threads = cpu_threads()
            self._llm = Llama(
                model_path=str(self.file.path),
                n_ctx=self._n_ctx,
                n_batch=512,
                n_threads=threads,
                n_threads_batch=threads,
                logits_all=False,
                verbose=False,
            )
        return self._llm

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    def _grow_context(self, needed: int) -> None:
        trained = self.load()._model.n_ctx_train()
        if needed > trained:
            raise P2MError(f"a teacher request needs {needed} tokens; {self.label} handles {trained}")
        self._n_ctx = min(trained, 1 << (needed - 1).bit_length())
        self.close()

    def generate(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        return [self._with_context(self._chat, request) for request in requests]

    def score(self, requests: Sequence[ScoreRequest]) -> list[ChatResponse]:
        return [self._with_context(self._score, request) for request in requests]

    def _with_context(self, answer, request):
        """Answer; a request longer than the context reloads the model with room for it."""
        try:
            return answer(request)
        except ValueError as error:
            needed = re.search(r"Requested tokens \((\d+)\) exceed context window", str(error))
            if not needed:
                raise
            self._grow_context(int(needed.group(1)) + getattr(request, "max_tokens", 0))
            return answer(request)

    def _chat(self, request: ChatRequest) -> ChatResponse:
        llm = self.load()
        steps: list[dict[str, float]] = []

        def record(_input_ids, logits):  # sees each step's logits before sampling; changes nothing
            steps.append(_top_logprobs(logits, request.top_logprobs, llm))
            return logits

        options = (
            {"response_format": {"type": "json_object", "schema": request.json_schema}} if request.json_schema else {}
        )
        started = time.perf_counter()
        completion = llm.create_chat_completion(
            messages=request.as_openai_messages(),
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            seed=request.seed,
            top_p=0.95 if request.temperature > 0 else 1.0,
            logits_processor=[record] if request.top_logprobs else None,
            **options,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        usage = completion["usage"]
        return ChatResponse(
            text=(completion["choices"][0]["message"]["content"] or "").strip(),
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            latency_ms=latency_ms,
            top_logprobs=steps[: max(usage["completion_tokens"], 1)],
        )

    def _score(self, request: ScoreRequest) -> ChatResponse:
        llm = self.load()
        started = time.perf_counter()
        prefix = llm.tokenize(request.prefix.encode(), add_bos=True, special=True)
        continuation = llm.tokenize(request.continuation.encode(), add_bos=False, special=False)
        total = float(continuation_logprobs(llm, prefix, continuation).sum()) if continuation else 0.0
        return ChatResponse(
            text="",
            prompt_tokens=len(prefix) + len(continuation),
            latency_ms=(time.perf_counter() - started) * 1000,
            logprob=round(total, 4),
        )


def continuation_logprobs(llm, prefix: list[int], continuation: list[int]) -> np.ndarray:
    """log P(continuation[i] | prefix + continuation[:i]) for each i, decoding only the tokens the KV
    cache does not already hold (the shared prefix of the last request is reused) and keeping logits
    only at the positions that predict a continuation token."""
    tokens = prefix + continuation
    if len(tokens) > llm.n_ctx():
        raise ValueError(f"Requested tokens ({len(tokens)}) exceed context window of {llm.n_ctx()}")
    first = len(prefix) - 1  # the position whose logits predict continuation[0]
    cached = min(_common_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens), first)
    llm.n_tokens = cached
    llm._ctx.kv_cache_seq_rm(-1, cached, -1)
    rows: list[np.ndarray] = []
    for start in range(cached, len(tokens) - 1, llm.n_batch):
        chunk = tokens[start : min(start + llm.n_batch, len(tokens) - 1)]
        llm._batch.set_batch(batch=chunk, n_past=start, logits_all=False)
        for i in range(len(chunk)):  # set_batch flags only the last token; flag exactly the predicting ones
            llm._batch.batch.logits[i] = start + i >= first
        llm._ctx.decode(llm._batch)
        if outputs := sum(start + i >= first for i in range(len(chunk))):
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(outputs * llm.n_vocab(),))
            rows.append(logits.reshape(outputs, llm.n_vocab()).astype(np.float64))
        llm.input_ids[start : start + len(chunk)] = chunk
        llm.n_tokens = start + len(chunk)
    llm._requires_eval = True  # the next generation decodes its last prompt token again for fresh logits
    logits = np.concatenate(rows)
    logits -= logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return log_probs[np.arange(len(continuation)), continuation]


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _top_logprobs(logits: np.ndarray, k: int, llm) -> dict[str, float]:
    values = np.asarray(logits, dtype=np.float64)
    top = np.argpartition(-values, k)[:k]
    shifted = values - values.max()
    log_norm = np.log(np.exp(shifted).sum())
    ordered = top[np.argsort(-values[top])]
    return {
        llm.detokenize([int(i)]).decode("utf-8", "replace"): round(float(shifted[i] - log_norm), 4) for i in ordered
    }
