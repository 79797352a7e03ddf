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
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Protocol

from p2m.errors import BudgetExceeded, TeacherUnavailable
from p2m.privacy import PRIVATE_FILE, private_dir, redact_url

MAX_RETRY_AFTER_S = 60.0  # a server's Retry-After is honoured up to this
MAX_BACKOFF_S = 30.0  # the longest wait between two tries of a request, before jitter
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
    """What the Teacher asks of a backend; its capabilities are declared, not guessed."""

    name: str  # "llama.cpp", "local" or "openai"
    model: str
    price_per_mtok: tuple[float, float] | None  # USD per million (prompt, completion) tokens, if known
    scores_text: bool  # `score` returns log P(continuation | prefix) (a server: where it passed the probe)
    streams_answers: bool  # generate/score(streaming=True) yield (index, answer) as each completes

    def generate(self, requests: Sequence[ChatRequest]) -> list[ChatResponse | TransientError]: ...

    def score(self, requests: Sequence[ScoreRequest]) -> list[ChatResponse]:
        """Each continuation's log-probability (`.logprob`); called only where `scores_text`."""
        ...

    def on_each_request(self, report: Callable[[], None]) -> bool:
        """Call `report` before each request leaves for a server; False for an in-process backend, whose
        requests the Teacher counts itself."""
        ...

    def num_params(self) -> int | None: ...

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
    """What the teacher cost: live calls, cache hits and tokens, per stage and in total. Built from
    events (`apply`), so an invocation killed mid-run is rebuilt from its journal the same way."""

    calls: int = 0
    cache_hits: int = 0
    failed_attempts: int = 0  # live requests that failed and were asked again (or gave up)
    attempts: int = 0  # every request sent: answered, failed, and a server's probe / refused JSON dialects
    estimated_token_calls: int = 0  # live calls whose tokens were estimated (no usage in the answer)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    by_stage: dict[str, dict[str, int]] = field(default_factory=dict)

    def record_hit(self, stage: str) -> None:
        self.cache_hits += 1
        self._row(stage)["cache_hits"] += 1

    def apply(self, event: dict) -> None:
        """One journal event: a request sent ("request") or a round of answers and failures ("round")."""
        row = self._row(event["stage"])
        if event["event"] == "request":
            self.attempts += 1
            return
        self.attempts += event["attempts"]
        self.calls += event["answered"]
        self.failed_attempts += event["failed"]
        self.estimated_token_calls += event["estimated"]
        self.prompt_tokens += event["prompt_tokens"]
        self.completion_tokens += event["completion_tokens"]
        row["calls"] += event["answered"]
        row["prompt_tokens"] += event["prompt_tokens"]
        row["completion_tokens"] += event["completion_tokens"]
        if event["failed"]:
            row["failed_attempts"] = row.get("failed_attempts", 0) + event["failed"]
        if event["cost_usd"] is not None:
            self.cost_usd = (self.cost_usd or 0.0) + event["cost_usd"]

    def _row(self, stage: str) -> dict[str, int]:
        return self.by_stage.setdefault(
            stage, {"calls": 0, "cache_hits": 0, "prompt_tokens": 0, "completion_tokens": 0}
        )


def round_event(
    stage: str, answered: list[ChatResponse], failed: int, price: tuple[float, float] | None, requests_counted: bool
) -> dict:
    """The journal line for one round of live requests (`requests_counted`: the backend journals each
    request it sends itself, as a server backend does before the request leaves)."""
    prompt, completion = sum(r.prompt_tokens for r in answered), sum(r.completion_tokens for r in answered)
    return {
        "event": "round",
        "stage": stage,
        "answered": len(answered),
        "failed": failed,
        "attempts": 0 if requests_counted else len(answered) + failed,
        "estimated": sum(r.tokens_estimated for r in answered),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": None if price is None else (prompt * price[0] + completion * price[1]) / 1e6,
    }


class Accounts(Protocol):
    """Where a Teacher keeps its accounts beyond memory (a run's RunLedger): each event journalled as it
    happens (durable, append-only), the ledger saved after every batch, and what the run's earlier
    invocations spent (the call and dollar caps count the whole run)."""

    def write_event(self, event: dict) -> None: ...

    def save(self, ledger: Ledger) -> None: ...

    def spent_before(self) -> tuple[int, float]: ...


class Teacher:
    """Cached, accounted, budgeted access to one backend. All teacher calls in p2m go through here."""

    def __init__(
        self,
        backend: Backend,
        cache: CallCache,
        ledger: Ledger | None = None,
        max_calls: int | None = None,
        max_cost_usd: float | None = None,
        retries: int = 8,
        backoff_s: float = 1.0,
        accounts: Accounts | None = None,
        max_failures: int = 1000,
    ):
        self.backend = backend
        self.cache = cache
        self.ledger = ledger or Ledger()
        self.max_calls = max_calls  # live requests (attempts) for the whole run, earlier invocations included
        self.max_cost_usd = max_cost_usd  # checked before each batch against a rough cost estimate
        self.retries = retries  # per request
        self.max_failures = max_failures  # per invocation: a server failing this often is down, not flaky
        self.backoff_s = backoff_s
        self.accounts = accounts
        self.stage = "default"
        self._accounting = threading.Lock()  # a server backend reports requests from its worker threads
        self._requests_counted = backend.on_each_request(
            lambda: self._account({"event": "request", "stage": self.stage})
        )

    def _account(self, event: dict) -> None:
        """Journal first (it survives a SIGKILL), then the in-memory ledger."""
        with self._accounting:
            if self.accounts:
                self.accounts.write_event(event)
            self.ledger.apply(event)

    def keep_accounts(self, accounts: Accounts) -> None:
        """Journal and save this teacher's accounts to `accounts` from now on (a teacher is built before
        the run dir's ledger is opened: an unreachable server is told first)."""
        self.accounts = accounts

    def spent_before(self) -> tuple[int, float]:
        """(requests, dollars) of the run's earlier invocations."""
        return self.accounts.spent_before() if self.accounts else (0, 0.0)

    @contextmanager
    def tagged(self, stage: str) -> Iterator[Teacher]:
        """Account the calls made inside the block to `stage` (ledger.json's by-stage counts)."""
        previous, self.stage = self.stage, stage
        try:
            yield self
        finally:
            self.stage = previous

    @property
    def identity(self) -> str:
        """What the teacher is, for fingerprints: changing the teacher invalidates its stages."""
        return f"{self.backend.name}:{self.backend.model}"

    @property
    def can_score(self) -> bool:
        """Whether the backend returns log-likelihoods of text (a server teacher: if it answered the probe)."""
        return self.backend.scores_text

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
        first: dict[str, int] = {}  # a request asked twice in one call is paid for once
        for i, key in enumerate(keys):
            hit = None if key in first else self.cache.get(key)
            if hit is not None:
                hit.cached = True
                results[i] = hit
                self.ledger.record_hit(self.stage)
            elif key not in first:
                first[key] = i
                missing.append(i)
        affordable = self._affordable([requests[i] for i in missing])
        self._call(requests, keys, missing[:affordable], results, batch_size, generate)  # spend what fits, cached
        for i, key in enumerate(keys):
            if results[i] is None and key in first and results[first[key]] is not None:
                results[i] = results[first[key]]
        if affordable < len(missing):
            caps = [f"--max-teacher-calls {self.max_calls}"] * (self.max_calls is not None) + [
                f"--budget-usd {self.max_cost_usd}"
            ] * (self.max_cost_usd is not None)
            before_attempts, before_usd = self.spent_before()
            attempts, usd = before_attempts + self.ledger.attempts, before_usd + (self.ledger.cost_usd or 0.0)
            spent = f"{attempts} requests in this run" + (f", ${usd:.4f}" if usd else "")
            raise BudgetExceeded(
                f"teacher budget reached ({spent} of {' / '.join(caps)}); "
                "finished work is kept, raise the budget and run again to continue"
            )
        return results  # type: ignore[return-value]

    def _affordable(self, requests: Sequence) -> int:
        """How many of these live calls fit in what is left of the run's call and dollar budgets."""
        count = len(requests)
        spent_attempts, spent_usd = self.spent_before()
        if self.max_calls is not None:
            count = min(count, max(self.max_calls - spent_attempts - self.ledger.attempts, 0))
        price = self.backend.price_per_mtok
        if self.max_cost_usd is not None and price is not None:
            left = self.max_cost_usd - spent_usd - (self.ledger.cost_usd or 0.0)
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
        """Ask for `pending`; journal and cache each good answer as it comes (a server backend hands
        them over as they complete); ask again only for the failed ones."""
        for attempt in range(self.retries + 1):
            failed, error = [], None
            for i, outcome in self._outcomes(generate, requests, pending):
                if isinstance(outcome, TransientError):
                    failed.append(i)
                    error = outcome
                    self._account(round_event(self.stage, [], 1, None, self._requests_counted))
                    continue
                self._account(
                    round_event(self.stage, [outcome], 0, self.backend.price_per_mtok, self._requests_counted)
                )
                self.cache.put(keys[i], outcome)
                results[i] = outcome
            if self.accounts:
                self.accounts.save(self.ledger)
            if not failed:
                return
            if attempt == self.retries or self.ledger.failed_attempts >= self.max_failures:
                tries = (
                    f"{attempt + 1} tries"
                    if attempt == self.retries
                    else f"{self.ledger.failed_attempts} failed requests in this run"
                )
                raise TeacherUnavailable(
                    f"teacher {self.identity} failed after {tries}: {error}; finished work is kept, run again to continue"
                )
            pending = sorted(failed)
            time.sleep(
                max(
                    min(self.backoff_s * 2**attempt, MAX_BACKOFF_S) * _JITTER.uniform(0.5, 1.5),
                    min(error.retry_after or 0.0, MAX_RETRY_AFTER_S),
                )
            )

    def _outcomes(self, generate: Callable, requests, pending: list[int]):
        """(index, answer or TransientError) for each pending request, as the backend gives them."""
        batch = [requests[i] for i in pending]
        if self.backend.streams_answers:
            for j, outcome in generate(batch, streaming=True):
                yield pending[j], outcome
            return
        try:
            outcomes = generate(batch)
        except TransientError as error:  # the whole batch failed (an in-process backend, a dropped link)
            outcomes = [error] * len(pending)
        yield from zip(pending, outcomes)
