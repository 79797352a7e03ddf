"""Servers on loopback for tests and benchmarks: the embedded SmolLM2 served by llama-cpp-python's
OpenAI-compatible server (a real server teacher), and a raw HTTP client for `p2m serve` with the
malformed requests it must answer with a JSON error."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

from p2m.student.serve import DRAIN_BYTES, MAX_BODY_BYTES

START_TIMEOUT_S = 600  # a hang, not a slow shared CPU


def start_llama_server() -> tuple[subprocess.Popen, str]:
    """llama-cpp-python's server on a free loopback port, serving the embedded SmolLM2 GGUF with prompt
    log-probabilities (echo + logprobs, so the server teacher can score text): (process, base_url)."""
    from p2m.embedded import smollm2_gguf_path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    arguments = ["--model", str(smollm2_gguf_path()), "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
    arguments += ["--model_alias", "smollm2", "--verbose", "False", "--logits_all", "True"]
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + START_TIMEOUT_S
    while True:
        try:
            urllib.request.urlopen(f"{base_url}/models", timeout=2)
            return process, base_url
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError("the llama.cpp server did not start") from None
            time.sleep(0.5)


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
