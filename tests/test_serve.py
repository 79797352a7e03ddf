"""`p2m serve` on its real stack (uvicorn on loopback, raw sockets and the openai client) in front of a
fake classifier, for the HTTP logic: validation, JSON errors, batching of concurrent requests. The real
student is served in tests/test_pipeline.py (torch and ONNX)."""

import json
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from p2m.student.serve import StudentServer
from p2m.testing.fakes import FakeClassifier
from p2m.testing.servers import BAD_REQUESTS, post, raw


@pytest.fixture
def server():
    served = StudentServer(FakeClassifier(), "p2m-fake", port=0).start()
    yield served
    served.stop()


@pytest.mark.parametrize("name", BAD_REQUESTS)
def test_every_malformed_request_gets_a_json_error_and_the_server_stays_up(server, name):
    data, status = BAD_REQUESTS[name]
    got, body = raw(server, data)
    assert got == status and body["error"]["message"]
    assert raw(server, post("/v1/classify", b'{"input": "still up"}')) == (200, {"model": "p2m-fake", "labels": ["up"]})


def test_a_body_that_never_arrives_times_out_with_408(server, monkeypatch):
    monkeypatch.setattr("p2m.student.serve.BODY_TIMEOUT_S", 0.5)
    assert raw(server, post("/v1/classify", b"{}", b"100"))[0] == 408


def test_a_model_failure_is_a_500_for_its_batch_only(server):
    status, body = raw(server, post("/v1/classify", b'{"input": ["explode"]}'))
    assert status == 500 and "failed" in body["error"]["message"]
    assert raw(server, post("/v1/classify", b'{"input": "fine now"}'))[0] == 200


def test_concurrent_requests_share_batches_and_each_gets_its_own_answer(server):
    model = server.app.state.batcher.predict.__self__

    def classify(i: int) -> list[str]:
        return raw(server, post("/v1/classify", json.dumps({"input": [f"text w{i}", f"more x{i}"]}).encode()))[1][
            "labels"
        ]

    with ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(classify, range(64)))
    assert answers == [[f"w{i}", f"x{i}"] for i in range(64)]
    assert sum(model.calls) == 128 and len(model.calls) < 64  # batched: fewer forward passes than requests


def test_the_openai_client_reads_the_chat_route(server):
    client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
    assert client.models.list().data[0].id == "p2m-fake"
    reply = client.chat.completions.create(
        model="p2m-fake", messages=[{"role": "user", "content": "label me positive"}]
    )
    assert reply.choices[0].message.content == "positive" and reply.usage.prompt_tokens == 3
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="p2m-fake", messages=[{"role": "assistant", "content": "no user turn"}])
