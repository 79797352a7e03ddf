"""A flaky server teacher: the real openai client through a loopback fault proxy to the real llama.cpp
server. Each failed request is retried on its own; the good answers of its batch are kept and cached."""

import pytest

from p2m.errors import TeacherUnavailable
from p2m.teacher.calls import CallCache, ChatRequest, Teacher
from p2m.teacher.openai_compat import OpenAIBackend
from p2m.testing.fault_proxy import FAULTS, FaultProxy


def requests(n: int) -> list[ChatRequest]:
    return [ChatRequest((("user", f"Name one colour. ({i})"),), max_tokens=3, seed=i) for i in range(n)]


@pytest.fixture
def proxy(llama_server):
    proxies = []

    def make(pattern):
        proxies.append(FaultProxy(llama_server, pattern))
        return proxies[-1]

    yield make
    for p in proxies:
        p.close()


def test_every_kind_of_fault_is_retried_request_by_request(proxy, tmp_path):
    flaky = proxy([None, "429", None, "500", None, "503", None, "reset", None, "malformed", None, "empty"])
    teacher = Teacher(
        OpenAIBackend(model="smollm2", base_url=flaky.base_url),
        CallCache(tmp_path / "c.sqlite"),
        retries=8,
        backoff_s=0.01,
    )
    answers = teacher.chat(requests(16))
    assert len(answers) == 16 and all(a.completion_tokens > 0 for a in answers)
    assert flaky.forwarded == 16  # each answer was paid for once: none thrown away with a failed neighbour
    assert teacher.ledger.calls == 16 and teacher.ledger.failed_attempts == flaky.faulted == flaky.seen - 16
    assert {f for f in flaky.pattern if f} == set(FAULTS)
    again = Teacher(OpenAIBackend(model="smollm2", base_url=flaky.base_url), CallCache(tmp_path / "c.sqlite")).chat(
        requests(16)
    )
    assert all(a.cached for a in again) and flaky.forwarded == 16


def test_a_server_that_keeps_failing_is_a_clear_error_and_keeps_what_it_answered(proxy, tmp_path):
    broken = proxy([None, None] + ["500"] * 10)  # two answers, then only failures
    teacher = Teacher(
        OpenAIBackend(model="smollm2", base_url=broken.base_url),
        CallCache(tmp_path / "c.sqlite"),
        retries=2,
        backoff_s=0.01,
    )
    teacher.backend.concurrency = 1  # the pattern is then read in request order
    with pytest.raises(TeacherUnavailable, match="failed after 3 tries"):
        teacher.chat(requests(4))
    assert teacher.ledger.calls == 2  # the two good answers were cached before the error
    assert sum(teacher.cache.get(CallCache.key(teacher.backend, r)) is not None for r in requests(4)) == 2


def test_an_answer_without_usage_is_counted_with_estimated_tokens(proxy, tmp_path):
    quiet = proxy(["no-usage"])
    teacher = Teacher(OpenAIBackend(model="smollm2", base_url=quiet.base_url), CallCache(tmp_path / "c.sqlite"))
    answers = teacher.chat(requests(3))
    assert all(a.tokens_estimated and a.prompt_tokens > 0 and a.completion_tokens > 0 for a in answers)
    assert teacher.ledger.estimated_token_calls == 3 and teacher.ledger.prompt_tokens > 0
