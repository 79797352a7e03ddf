"""A fake LLM backend, for unit tests of pure logic (cache, ledger, budget, retries, parse repair).
Every stage is also tested with a real model elsewhere."""

from __future__ import annotations

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
