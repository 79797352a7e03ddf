"""The cached, accounted teacher layer: cache, ledger, budget and retries (fake backend: pure logic)."""

import pytest

from p2m.errors import BudgetExceeded, TeacherUnavailable
from p2m.teacher.calls import CallCache, ChatRequest, ChatResponse, ScoreRequest, Teacher
from p2m.testing.fakes import FakeBackend, MemoryAccounts


def request(text: str, **params) -> ChatRequest:
    return ChatRequest(messages=(("user", text),), **params)


def test_second_identical_call_is_a_cache_hit(tmp_path):
    backend = FakeBackend()
    teacher = Teacher(backend, CallCache(tmp_path / "c.sqlite"))
    first = teacher.chat([request("a"), request("b")])
    again = Teacher(backend, CallCache(tmp_path / "c.sqlite")).chat([request("a"), request("b")])
    assert [r.text for r in again] == [r.text for r in first]
    assert backend.calls == 2 and all(r.cached for r in again)


def test_seed_and_parameters_are_part_of_the_key(tmp_path):
    backend = FakeBackend()
    teacher = Teacher(backend, CallCache(tmp_path / "c.sqlite"))
    teacher.chat([request("a", seed=1), request("a", seed=2), request("a", temperature=0.5)])
    assert backend.calls == 3


def test_a_request_asked_twice_in_one_call_is_paid_for_once(tmp_path):
    backend = FakeBackend()
    replies = Teacher(backend, CallCache(tmp_path / "c.sqlite")).chat([request("a"), request("b"), request("a")])
    assert backend.calls == 2 and replies[0].text == replies[2].text


def test_ledger_counts_tokens_cost_and_hits_per_stage(tmp_path):
    teacher = Teacher(FakeBackend(), CallCache(tmp_path / "c.sqlite"))
    with teacher.tagged("synthesize"):
        teacher.chat([request("a"), request("b")])
        teacher.chat([request("a")])
    teacher.chat([request("c")])
    ledger = teacher.ledger
    assert (ledger.calls, ledger.cache_hits, ledger.prompt_tokens, ledger.completion_tokens) == (3, 1, 30, 15)
    assert ledger.cost_usd == pytest.approx((30 * 1.0 + 15 * 2.0) / 1e6)
    assert ledger.by_stage["synthesize"]["calls"] == 2 and ledger.by_stage["default"]["calls"] == 1  # outside the block


def test_budget_stops_before_exceeding_and_keeps_finished_calls(tmp_path):
    cache = CallCache(tmp_path / "c.sqlite")
    teacher = Teacher(FakeBackend(), cache, max_calls=3)
    with pytest.raises(BudgetExceeded, match="budget"):
        teacher.chat([request(str(i)) for i in range(5)], batch_size=2)
    assert teacher.ledger.calls == 3  # the budget was spent, and what it bought is cached
    assert cache.get(CallCache.key(teacher.backend, request("2"))) is not None
    assert cache.get(CallCache.key(teacher.backend, request("3"))) is None


def test_transient_failures_are_retried_with_backoff(tmp_path):
    backend = FakeBackend(replies=["ok"], failures=2)
    teacher = Teacher(backend, CallCache(tmp_path / "c.sqlite"), retries=3, backoff_s=0.001)
    assert teacher.ask(request("x")).text == "ok"


def test_persistent_failure_is_a_clear_error(tmp_path):
    teacher = Teacher(FakeBackend(failures=10), CallCache(tmp_path / "c.sqlite"), retries=2, backoff_s=0.001)
    with pytest.raises(TeacherUnavailable, match="failed after 3 tries"):
        teacher.ask(request("x"))


def test_dollar_budget_stops_before_the_cap_and_keeps_what_it_bought(tmp_path):
    # FakeBackend charges $1 / $2 per million prompt / completion tokens; each request is ~(2 + 100) tokens
    # at the dearer rate in the pre-call estimate, so $0.0005 buys two of five.
    cache = CallCache(tmp_path / "c.sqlite")
    teacher = Teacher(FakeBackend(), cache, max_cost_usd=0.0005)
    with pytest.raises(BudgetExceeded, match="--budget-usd 0.0005"):
        teacher.chat([request(str(i), max_tokens=100) for i in range(5)])
    assert teacher.ledger.calls == 2 and teacher.ledger.cost_usd < 0.0005
    assert cache.get(CallCache.key(teacher.backend, request("1", max_tokens=100))) is not None


def test_score_requests_are_cached_and_need_a_scoring_backend(tmp_path):
    class ScoringFake(FakeBackend):
        scores_text = True

        def score(self, requests):
            self.calls += len(requests)
            return [ChatResponse(text="", prompt_tokens=3, logprob=-float(len(r.continuation))) for r in requests]

    backend = ScoringFake()
    teacher = Teacher(backend, CallCache(tmp_path / "c.sqlite"))
    requests = [ScoreRequest("Label: a\nInput: ", "xy"), ScoreRequest("Label: b\nInput: ", "xyz")]
    assert teacher.score(requests) == [-2.0, -3.0] and teacher.score(requests) == [-2.0, -3.0]
    assert backend.calls == 2 and teacher.ledger.cache_hits == 2
    assert teacher.can_score and not Teacher(FakeBackend(), CallCache(tmp_path / "d.sqlite")).can_score


def test_the_journal_rebuilds_the_ledger_and_the_caps_count_earlier_invocations(tmp_path):
    from p2m.teacher.calls import Ledger

    accounts = MemoryAccounts()
    teacher = Teacher(
        FakeBackend(failures=1), CallCache(tmp_path / "c.sqlite"), retries=2, backoff_s=0.001, accounts=accounts
    )
    with teacher.tagged("synthesize"):
        teacher.chat([request(str(i)) for i in range(3)])
    rebuilt = Ledger()
    for event in accounts.events:
        rebuilt.apply(event)
    live = teacher.ledger
    assert (
        (rebuilt.calls, rebuilt.failed_attempts, rebuilt.attempts, rebuilt.prompt_tokens, rebuilt.cost_usd)
        == (live.calls, live.failed_attempts, live.attempts, live.prompt_tokens, live.cost_usd)
        == (3, 3, 6, 30, live.cost_usd)
    )
    earlier = MemoryAccounts(spent=(6, 0.0))  # six requests in the run's earlier invocations: two left
    capped = Teacher(FakeBackend(), CallCache(tmp_path / "c.sqlite"), max_calls=8, accounts=earlier)
    with pytest.raises(BudgetExceeded, match="8 requests in this run"):
        capped.chat([request(f"new {i}") for i in range(3)])
    assert capped.ledger.calls == 2


def test_a_run_wide_failure_budget_stops_a_server_that_is_down(tmp_path):
    teacher = Teacher(
        FakeBackend(failures=100), CallCache(tmp_path / "c.sqlite"), retries=50, backoff_s=0.0, max_failures=5
    )
    with pytest.raises(TeacherUnavailable, match="5 failed requests in this run"):
        teacher.ask(request("x"))


def test_a_killed_invocation_is_rebuilt_from_the_journal_even_before_it_locked_the_run(tmp_path):
    from p2m.run_ledger import RunLedger

    killed = RunLedger(tmp_path, Teacher(FakeBackend(), CallCache(tmp_path / "c.sqlite")))
    killed.teacher.chat([request("a"), request("b")])  # paid before attach (like the plan's probe), then SIGKILL
    resumed = RunLedger(tmp_path, Teacher(FakeBackend(), CallCache(tmp_path / "c.sqlite")))
    resumed.attach()
    resumed.teacher.chat([request("c")])
    resumed.close()
    import json

    history = json.loads((tmp_path / "ledger.json").read_text())["history"]
    assert [(h["calls"], bool(h.get("interrupted"))) for h in history] == [(2, True), (1, False)]
    assert resumed.teacher.spent_before() == (2, history[0]["cost_usd"])
