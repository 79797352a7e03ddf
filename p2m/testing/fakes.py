"""Fakes, for tests of pure logic: an LLM backend (cache, ledger, budget, retries, parse repair) and a
classifier student (the server's HTTP logic). Every stage is also tested with a real model elsewhere."""

from __future__ import annotations

import threading

from p2m.student.kinds import CLASSIFIER
from p2m.teacher.calls import ChatResponse, TransientError


class FakeBackend:
    name = "fake"
    model = "fake-model"
    price_per_mtok = (1.0, 2.0)
    scores_text = False  # chat only
    streams_answers = False

    def __init__(self, replies=None, failures: int = 0):
        self.replies = list(replies or [])
        self.failures = failures  # raise TransientError this many times first
        self.calls = 0

    def on_each_request(self, report) -> bool:
        return False

    def num_params(self) -> None:
        return None

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model}

    def generate(self, requests):
        if self.failures:
            self.failures -= 1
            raise TransientError("simulated 503")
        out = []
        for _ in requests:
            self.calls += 1
            text = self.replies.pop(0) if self.replies else f"reply {self.calls}"
            out.append(ChatResponse(text=text, prompt_tokens=10, completion_tokens=5))
        return out


class FakeClassifier:
    """Labels a text by its last word, so a batched answer can be checked against its own request."""

    kind = CLASSIFIER

    def __init__(self):
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def predict(self, texts):
        if any(t == "explode" for t in texts):
            raise RuntimeError("the model failed")
        with self.lock:
            self.calls.append(len(texts))
        return [(t.split() or [""])[-1] for t in texts]

    def count_tokens(self, text):
        return len(text.split())


class MemoryAccounts:
    """A teacher's accounts kept in memory (teacher.calls.Accounts): the journal's events, the saved
    ledgers, and a given spend of earlier invocations."""

    def __init__(self, spent: tuple[int, float] = (0, 0.0)):
        self.events: list[dict] = []
        self.saved = 0
        self.spent = spent

    def write_event(self, event: dict) -> None:
        self.events.append(event)

    def save(self, ledger) -> None:
        self.saved += 1

    def spent_before(self) -> tuple[int, float]:
        return self.spent
