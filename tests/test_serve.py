"""`p2m serve` on its real stack (uvicorn on loopback, raw sockets and the openai client) in front of a
fake classifier, for the HTTP logic: validation, JSON errors, batching of concurrent requests. The real
student is served in tests/test_pipeline.py (torch and ONNX)."""

import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from p2m.student.kinds import CLASSIFIER
from p2m.student.serve import DRAIN_BYTES, MAX_BODY_BYTES, StudentServer


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


@pytest.fixture
def server():
    served = StudentServer(FakeClassifier(), "p2m-fake", port=0).start()
    yield served
    served.stop()


def raw(server, data: bytes) -> tuple[int, dict]:
    """Send bytes as they are; (status, JSON body) of the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(data)
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < content_length(reply):
            chunk = connection.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, body = reply.split(b"\r\n\r\n", 1)
    assert b"content-type: application/json" in head.lower()
    return int(head.split()[1]), json.loads(body)


def content_length(reply: bytes) -> int:
    for line in reply.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 30


def post(path: str, body: bytes, length: bytes | None = None) -> bytes:
    length = str(len(body)).encode() if length is None else length
    return (
        b"POST "
        + path.encode()
        + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
        + length
        + b"\r\n\r\n"
        + body
    )


BAD_REQUESTS = {
    "messages a string": (post("/v1/chat/completions", b'{"messages": "hi"}'), 400),
    "body an array": (post("/v1/chat/completions", b"[1, 2]"), 400),
    "no user message": (post("/v1/chat/completions", b'{"messages": [{"role": "system", "content": "x"}]}'), 400),
    "content not text": (post("/v1/chat/completions", b'{"messages": [{"role": "user", "content": [1]}]}'), 400),
    "input a number": (post("/v1/classify", b'{"input": 3}'), 400),
    "input empty": (post("/v1/classify", b'{"input": []}'), 400),
    "too many inputs": (post("/v1/classify", json.dumps({"input": ["a"] * 1000}).encode()), 413),
    "invalid UTF-8": (post("/v1/classify", b'{"input": "\xff\xfe"}'), 400),
    "not JSON": (post("/v1/classify", b"{input"), 400),
    "deeply nested": (post("/v1/classify", b"[" * 100_000 + b"]" * 100_000), 400),
    "Content-Length abc": (post("/v1/classify", b"{}", b"abc"), 400),
    "Content-Length -1": (post("/v1/classify", b"{}", b"-1"), 400),
    "Content-Length too large": (post("/v1/classify", b"{}", str(DRAIN_BYTES + 1).encode()), 413),
    "body too large": (post("/v1/classify", b'{"input": "' + b"a" * (MAX_BODY_BYTES + 10) + b'"}'), 413),
    "PUT": (b"PUT /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 405),
    "unknown route": (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    "bad request line": (b"HELLO\r\n\r\n", 400),
}


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
