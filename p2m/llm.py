"""The teacher: one cached, accounted layer in front of every LLM call.

Backends (`llm_local.LocalBackend`, `llm_openai.OpenAIBackend`) only turn requests into responses.
`Teacher` adds what every call needs: an on-disk cache keyed by backend, model, messages, parameters and
seed (a finished run re-run makes zero backend calls); a ledger of calls, tokens, cache hits and cost;
a call budget; and retries with exponential backoff on transient failures.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

from p2m.errors import BudgetExceeded, TeacherUnavailable


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion. `seed` makes sampled calls distinct cache entries (and reproducible)."""

    messages: tuple[tuple[str, str], ...]  # (role, content) pairs
    temperature: float = 0.0
    max_tokens: int = 128
    seed: int = 0
    top_logprobs: int = 0  # > 0: return the top-k log-probabilities of each generated token
    json_schema: dict | None = field(default=None, hash=False)

    def as_openai_messages(self) -> list[dict]:
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass
class ChatResponse:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0  # of the call that produced it, kept through the cache
    top_logprobs: list[dict[str, float]] = field(default_factory=list)  # one dict per generated token
    cached: bool = False


class TransientError(Exception):
    """Raised by a backend for failures worth retrying (time-outs, HTTP 429 and 5xx, dropped links)."""


class Backend(Protocol):
    name: str  # "local" or "openai"
    model: str
    price_per_mtok: tuple[float, float] | None  # USD per million (prompt, completion) tokens, if known

    def generate(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]: ...

    def describe(self) -> dict: ...


class CallCache:
    """SQLite key-value store: survives interrupts (each insert is a transaction) and is shared by runs."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, response TEXT)")
        self._lock = threading.Lock()

    @staticmethod
    def key(backend: Backend, request: ChatRequest) -> str:
        payload = {"backend": backend.name, "model": backend.model, "request": asdict(request)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> ChatResponse | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM calls WHERE key = ?", (key,)).fetchone()
        return ChatResponse(**json.loads(row[0])) if row else None

    def put(self, key: str, response: ChatResponse) -> None:
        data = asdict(response)
        data.pop("cached")
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO calls VALUES (?, ?)", (key, json.dumps(data)))


@dataclass
class Ledger:
    """What the teacher cost: live calls, cache hits and tokens, per stage and in total."""

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    by_stage: dict[str, dict[str, int]] = field(default_factory=dict)

    def record(self, stage: str, response: ChatResponse, price: tuple[float, float] | None) -> None:
        row = self.by_stage.setdefault(stage, {"calls": 0, "cache_hits": 0, "prompt_tokens": 0, "completion_tokens": 0})
        if response.cached:
            self.cache_hits += 1
            row["cache_hits"] += 1
            return
        self.calls += 1
        self.prompt_tokens += response.prompt_tokens
        self.completion_tokens += response.completion_tokens
        row["calls"] += 1
        row["prompt_tokens"] += response.prompt_tokens
        row["completion_tokens"] += response.completion_tokens
        if price is not None:
            cost = (response.prompt_tokens * price[0] + response.completion_tokens * price[1]) / 1e6
            self.cost_usd = (self.cost_usd or 0.0) + cost


class Teacher:
    """Cached, accounted, budgeted access to one backend. All teacher calls in p2m go through here."""

    def __init__(
        self,
        backend: Backend,
        cache: CallCache,
        ledger: Ledger | None = None,
        max_calls: int | None = None,
        retries: int = 3,
        backoff_s: float = 1.0,
        on_ledger: Callable[[Ledger], None] | None = None,
    ):
        self.backend = backend
        self.cache = cache
        self.ledger = ledger or Ledger()
        self.max_calls = max_calls
        self.retries = retries
        self.backoff_s = backoff_s
        self.on_ledger = on_ledger  # e.g. save ledger.json after every batch, so nothing is lost
        self.stage = "default"

    @property
    def identity(self) -> str:
        """What the teacher is, for fingerprints: changing the teacher invalidates its stages."""
        return f"{self.backend.name}:{self.backend.model}"

    def chat(self, requests: Sequence[ChatRequest], batch_size: int = 16) -> list[ChatResponse]:
        """Answer requests in order, from the cache where possible; new answers are cached at once."""
        results: list[ChatResponse | None] = [None] * len(requests)
        keys = [CallCache.key(self.backend, r) for r in requests]
        missing: list[int] = []
        for i, key in enumerate(keys):
            hit = self.cache.get(key)
            if hit is None:
                missing.append(i)
            else:
                hit.cached = True
                results[i] = hit
                self.ledger.record(self.stage, hit, self.backend.price_per_mtok)
        if self.max_calls is not None and len(missing) > self.max_calls - self.ledger.calls:
            affordable = missing[: max(self.max_calls - self.ledger.calls, 0)]
            self._call(requests, keys, affordable, results, batch_size)  # spend what is left, cached
            raise BudgetExceeded(
                f"teacher call budget reached ({self.ledger.calls} of {self.max_calls} calls); "
                "finished work is kept, raise --max-teacher-calls and run again to continue"
            )
        self._call(requests, keys, missing, results, batch_size)
        return results  # type: ignore[return-value]

    def _call(self, requests, keys, indices: list[int], results: list, batch_size: int) -> None:
        for start in range(0, len(indices), batch_size):
            batch = indices[start : start + batch_size]
            for i, response in zip(batch, self._generate_with_retries([requests[i] for i in batch])):
                self.cache.put(keys[i], response)
                self.ledger.record(self.stage, response, self.backend.price_per_mtok)
                results[i] = response
            if self.on_ledger:
                self.on_ledger(self.ledger)

    def ask(self, request: ChatRequest) -> ChatResponse:
        return self.chat([request])[0]

    def _generate_with_retries(self, requests: list[ChatRequest]) -> list[ChatResponse]:
        for attempt in range(self.retries + 1):
            try:
                return self.backend.generate(requests)
            except TransientError as error:
                if attempt == self.retries:
                    raise TeacherUnavailable(f"teacher {self.identity} failed after {attempt + 1} tries: {error}") from None
                time.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")
