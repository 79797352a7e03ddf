"""Both real teacher backends: local transformers (embedded SmolLM2) and the openai client against a
real llama.cpp server on loopback."""

import pytest

from p2m.config import RunConfig
from p2m.errors import TeacherUnavailable
from p2m.teacher.calls import CallCache, ChatRequest, Teacher
from p2m.teacher.choice import build_teacher
from p2m.teacher.local import LocalBackend
from p2m.teacher.openai_compat import OpenAIBackend

QUESTION = (("system", "Reply with one word."), ("user", "Is 'a wonderful, moving film' positive or negative?"))


def test_local_backend_batches_keep_request_order_and_greedy_is_deterministic():
    backend = LocalBackend(batch_size=2)
    requests = [
        ChatRequest(QUESTION, max_tokens=4),
        ChatRequest((("user", "Say hi."),), max_tokens=4),
        ChatRequest(QUESTION, max_tokens=4, temperature=0.9, seed=3),
    ]
    first = backend.generate(requests)
    again = backend.generate(requests[:1])
    assert first[0].text == again[0].text and first[0].text
    assert all(r.completion_tokens > 0 and r.prompt_tokens > 0 for r in first)


def test_a_sampled_request_does_not_depend_on_its_batch_mates():
    """Each sampled row draws from its own seeded generator: the same request alone, first in a batch,
    or after others gives the same text; another seed gives another draw."""
    backend = LocalBackend(batch_size=8)
    story = (("user", "Write one sentence about a dog."),)
    wanted = ChatRequest(story, max_tokens=16, temperature=1.0, seed=7)
    others = [ChatRequest(QUESTION, max_tokens=16, temperature=1.0, seed=s) for s in (1, 2, 3)]
    alone = backend.generate([wanted])[0].text
    assert backend.generate([wanted] + others)[0].text == alone
    assert backend.generate(others + [wanted])[-1].text == alone
    draws = {backend.generate([ChatRequest(story, max_tokens=16, temperature=1.0, seed=s)])[0].text for s in range(4)}
    assert len(draws) > 1


def test_local_backend_returns_top_logprobs():
    response = LocalBackend().generate([ChatRequest(QUESTION, max_tokens=2, top_logprobs=5)])[0]
    assert len(response.top_logprobs) >= 1 and len(response.top_logprobs[0]) == 5
    assert all(v <= 0 for v in response.top_logprobs[0].values())


def test_openai_backend_against_a_real_server(llama_server, tmp_path):
    teacher = build_teacher(RunConfig(task="x", teacher_base_url=llama_server))
    assert teacher.identity == "openai:smollm2"  # asked the server which model it serves
    teacher.cache = CallCache(tmp_path / "c.sqlite")
    response = teacher.ask(ChatRequest(QUESTION, max_tokens=4, top_logprobs=3))
    assert response.text and response.completion_tokens > 0 and response.top_logprobs
    assert teacher.ask(ChatRequest(QUESTION, max_tokens=4, top_logprobs=3)).cached
    assert teacher.ledger.calls == 1 and teacher.ledger.cache_hits == 1


def test_a_server_whose_prompt_logprobs_are_wrong_is_not_used_for_scoring(llama_server, tmp_path, monkeypatch):
    """llama-cpp-python's server echoes each prompt token's log-probability under the distribution
    after it (abetlen/llama-cpp-python#1983): the probe compares its echo with its own generation."""
    monkeypatch.setenv("P2M_CACHE_DIR", str(tmp_path))
    server = OpenAIBackend(base_url=llama_server)
    generated = (
        server._client.completions.create(
            model=server.model, prompt="The capital of France is", max_tokens=1, temperature=0, logprobs=1
        )
        .choices[0]
        .logprobs
    )
    echoed = server._prompt_logprobs("The capital of France is" + generated.tokens[0])
    assert abs(echoed[-2][2] - generated.token_logprobs[0]) > 0.05  # the server's two readings of one token disagree
    assert not server.scores_text
    assert not build_teacher(
        RunConfig(task="x", teacher_base_url=llama_server)
    ).can_score  # remembered, and the verifiers fall back
    assert "scores-text|" in (tmp_path / "file_facts.json").read_text()


def test_continuation_logprob_sums_the_tokens_past_the_prefix():
    from p2m.teacher.openai_compat import continuation_logprob

    # "Label:" + " positive" echoed as 'Label' ':' ' pos' 'itive' + one generated token
    tokens = [(5, 6, -1.0), (6, 10, -0.5), (10, 15, -0.25), (15, 16, -9.0)]
    assert continuation_logprob(tokens, prefix_chars=6, text_chars=15) == -0.75
    assert (
        continuation_logprob([(4, 8, -0.5)], prefix_chars=6, text_chars=8) == -0.5
    )  # a token straddling the boundary counts


def test_openai_backend_json_schema_output(llama_server):
    schema = {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": ["positive", "negative"]}},
        "required": ["label"],
    }
    backend = OpenAIBackend(base_url=llama_server)
    reply = backend.generate([ChatRequest(QUESTION, max_tokens=20, json_schema=schema)])[0].text
    import json

    assert json.loads(reply)["label"] in ("positive", "negative")


def test_unreachable_server_is_a_clear_error(tmp_path):
    with pytest.raises(TeacherUnavailable, match="cannot reach"):
        OpenAIBackend(base_url="http://127.0.0.1:9/v1")
    backend = OpenAIBackend(model="m", base_url="http://127.0.0.1:9/v1")  # model given: fails on the call
    teacher = Teacher(backend, CallCache(tmp_path / "c.sqlite"), retries=1, backoff_s=0.01)
    with pytest.raises(TeacherUnavailable, match="failed after 2 tries"):
        teacher.ask(ChatRequest(QUESTION))
