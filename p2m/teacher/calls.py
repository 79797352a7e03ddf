"""The teacher: one cached, accounted layer in front of every LLM call.

Backends (`llamacpp.LlamaCppBackend`, `local.LocalBackend`, `openai_compat.OpenAIBackend`) only turn requests into responses.
`Teacher` adds what every call needs: an on-disk cache keyed by backend, model, messages, parameters and
seed (a finished run re-run makes zero backend calls); a ledger of calls, tokens, cache hits and cost;
call and dollar budgets; and retries with jittered exponential backoff on transient failures, request
by request: a server backend reports a failed request in its place, so the other answers of its batch
are cached at once and only the failed one is asked again (a server's Retry-After is honoured).

Two kinds of request: `ChatRequest` (a completion) and `ScoreRequest` (the log-probability of a given
text after a prefix, which the channel verifier needs; only backends with a `score` method serve it).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import random
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Protocol, Sequence

from p2m.errors import BudgetExceeded, TeacherUnavailable
from p2m.privacy import PRIVATE_FILE, private_dir, redact_url

MAX_RETRY_AFTER_S = 60.0  # a server's Retry-After is honoured up to this
_JITTER = random.Random()  # its own generator: backoff must not move the seeded global one


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

    def rough_tokens(self) -> int:
        """Prompt plus the longest answer, for budget checks before the call (~4 characters a token)."""
        return sum(len(content) for _, content in self.messages) // 4 + self.max_tokens


@dataclass(frozen=True)
class ScoreRequest:
    """log P(continuation | prefix) under the teacher, as raw text (no chat template)."""

    prefix: str
    continuation: str

    def rough_tokens(self) -> int:
        return (len(self.prefix) + len(self.continuation)) // 4 + 1


@dataclass
class ChatResponse:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0  # of the call that produced it, kept through the cache
    top_logprobs: list[dict[str, float]] = field(default_factory=list)  # one dict per generated token
    logprob: float | None = None  # ScoreRequest: summed log-probability of the continuation
    tokens_estimated: bool = False  # the server reported no usage: token counts are ~4 characters a token
    cached: bool = False


class TransientError(Exception):
    """A failure worth retrying (time-outs, HTTP 429 and 5xx, dropped links, malformed bodies). A backend
    raises it to fail a whole batch, or returns it in a request's place to fail that request alone."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after  # seconds the server asked us to wait, if it said


class Backend(Protocol):
    name: str  # "local" or "openai"
    model: str
    price_per_mtok: tuple[float, float] | None  # USD per million (prompt, completion) tokens, if known

    def generate(self, requests: Sequence[ChatRequest]) -> list[ChatResponse | TransientError]: ...

    # Optional: def score(self, requests: Sequence[ScoreRequest]) -> list[ChatResponse] (with .logprob)

    def describe(self) -> dict: ...


class CallCache:
    """SQLite key-value store: survives interrupts (each insert is a transaction) and is shared by runs."""

    def __init__(self, path: Path):
        private_dir(path.parent)
        self._db = sqlite3.connect(path, check_same_thread=False)
        os.chmod(path, PRIVATE_FILE)
        self._db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, response TEXT)")
        self._lock = threading.Lock()

    @staticmethod
    def key(backend: Backend, request: ChatRequest) -> str:
        """Backend, model and request; and a server's URL, so another server's model of the same name
        is not answered from this one's cache (credentials cut: a new password keeps the cache)."""
        payload = {"backend": backend.name, "model": backend.model, "request": asdict(request)}
        if getattr(backend, "base_url", None):
            payload["base_url"] = redact_url(backend.base_url)
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> ChatResponse | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM calls WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        known = {f.name for f in fields(ChatResponse)}  # an entry a newer p2m wrote may carry more fields
        return ChatResponse(**{k: v for k, v in json.loads(row[0]).items() if k in known})

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
    failed_attempts: int = 0  # live requests that failed and were asked again (or gave up)
    estimated_token_calls: int = 0  # live calls whose tokens were estimated (no usage in the answer)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    by_stage: dict[str, dict[str, int]] = field(default_factory=dict)

    def record_failure(self, stage: str) -> None:
        self.failed_attempts += 1
        row = self.by_stage.setdefault(stage, {"calls": 0, "cache_hits": 0, "prompt_tokens": 0, "completion_tokens": 0})
        row["failed_attempts"] = row.get("failed_attempts", 0) + 1

    def record(self, stage: str, response: ChatResponse, price: tuple[float, float] | None) -> None:
        row = self.by_stage.setdefault(stage, {"calls": 0, "cache_hits": 0, "prompt_tokens": 0, "completion_tokens": 0})
        if response.cached:
            self.cache_hits += 1
            row["cache_hits"] += 1
            return
        self.calls += 1
        self.estimated_token_calls += response.tokens_estimated
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
        max_cost_usd: float | None = None,
        retries: int = 3,
        backoff_s: float = 1.0,
        on_ledger: Callable[[Ledger], None] | None = None,
    ):
        self.backend = backend
        self.cache = cache
        self.ledger = ledger or Ledger()
        self.max_calls = max_calls
        self.max_cost_usd = max_cost_usd  # checked before each batch against a rough cost estimate
        self.retries = retries
        self.backoff_s = backoff_s
        self.on_ledger = on_ledger  # e.g. save ledger.json after every batch, so nothing is lost
        self.stage = "default"

    @property
    def identity(self) -> str:
        """What the teacher is, for fingerprints: changing the teacher invalidates its stages."""
        return f"{self.backend.name}:{self.backend.model}"

    @property
    def can_score(self) -> bool:
        """Whether the backend returns log-likelihoods of text (a server teacher: if it answered the probe)."""
        return hasattr(self.backend, "score") and getattr(self.backend, "scores_text", True)

    def chat(self, requests: Sequence[ChatRequest], batch_size: int = 16) -> list[ChatResponse]:
        """Answer requests in order, from the cache where possible; new answers are cached at once."""
        return self._answer(requests, self.backend.generate, batch_size)

    def score(self, requests: Sequence[ScoreRequest], batch_size: int = 16) -> list[float]:
        """Log-probabilities of continuations, cached and accounted like chat calls."""
        return [r.logprob for r in self._answer(requests, self.backend.score, batch_size)]

    def _answer(self, requests, generate: Callable, batch_size: int) -> list[ChatResponse]:
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
        affordable = self._affordable([requests[i] for i in missing])
        self._call(requests, keys, missing[:affordable], results, batch_size, generate)  # spend what fits, cached
        if affordable < len(missing):
            caps = [f"--max-teacher-calls {self.max_calls}"] * (self.max_calls is not None) + [f"--budget-usd {self.max_cost_usd}"] * (self.max_cost_usd is not None)
            spent = f"{self.ledger.calls} calls" + (f", ${self.ledger.cost_usd:.4f}" if self.ledger.cost_usd else "")
            raise BudgetExceeded(f"teacher budget reached ({spent} of {' / '.join(caps)}); "
                                 "finished work is kept, raise the budget and run again to continue")
        return results  # type: ignore[return-value]

    def _affordable(self, requests: Sequence) -> int:
        """How many of these live calls fit in what is left of the call and dollar budgets."""
        count = len(requests)
        if self.max_calls is not None:
            count = min(count, max(self.max_calls - self.ledger.calls, 0))
        price = self.backend.price_per_mtok
        if self.max_cost_usd is not None and price is not None:
            left = self.max_cost_usd - (self.ledger.cost_usd or 0.0)
            per_token = max(price) / 1e6  # pessimistic: every token at the dearer rate
            spend = 0.0
            for i, request in enumerate(requests[:count]):
                spend += request.rough_tokens() * per_token
                if spend > left:
                    return i
        return count

    def _call(self, requests, keys, indices: list[int], results: list, batch_size: int, generate: Callable) -> None:
        for start in range(0, len(indices), batch_size):
            self._answer_with_retries(requests, keys, indices[start : start + batch_size], results, generate)

    def ask(self, request: ChatRequest) -> ChatResponse:
        return self.chat([request])[0]

    def _answer_with_retries(self, requests, keys, pending: list[int], results: list, generate: Callable) -> None:
        """Ask for `pending`; cache each good answer as it comes; ask again only for the failed ones."""
        for attempt in range(self.retries + 1):
            try:
                outcomes = generate([requests[i] for i in pending])
            except TransientError as error:  # the whole batch failed (an in-process backend, a dropped link)
                outcomes = [error] * len(pending)
            failed = []
            for i, outcome in zip(pending, outcomes):
                if isinstance(outcome, TransientError):
                    failed.append(i)
                    self.ledger.record_failure(self.stage)
                    continue
                self.cache.put(keys[i], outcome)
                self.ledger.record(self.stage, outcome, self.backend.price_per_mtok)
                results[i] = outcome
            if self.on_ledger:
                self.on_ledger(self.ledger)
            if not failed:
                return
            error = next(o for o in outcomes if isinstance(o, TransientError))
            if attempt == self.retries:
                raise TeacherUnavailable(f"teacher {self.identity} failed after {attempt + 1} tries: {error}")
            pending = failed
            time.sleep(max(self.backoff_s * 2**attempt * _JITTER.uniform(0.5, 1.5), min(error.retry_after or 0.0, MAX_RETRY_AFTER_S)))
