"""A loopback proxy in front of a real OpenAI-compatible server that injects faults, on a fixed pattern
or at random at a given rate: HTTP 429 / 500 / 503, a dropped connection, a malformed body, an answer
with no choices, a hang (no answer until the client gives up); and, not a fault, a real answer with
its `usage` removed ("no-usage", as some servers send). The client under test is the real `openai`
client; every request the proxy does not fault reaches the real server. Used by tests/test_faults.py and
benchmarks/faults.py."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("429", "500", "503", "reset", "malformed", "empty")
HANG = "hang"


class FaultProxy:
    """`pattern[n % len(pattern)]` decides the n-th POST: None forwards it, a FAULTS name (or HANG) fakes
    that failure. Without a pattern, each POST is faulted with probability `rate`, its kind drawn from
    `kinds` (a seeded generator: the same faults each run)."""

    def __init__(
        self,
        upstream: str,
        pattern: list[str | None] | None = None,
        rate: float = 0.0,
        kinds: tuple[str, ...] = FAULTS,
        seed: int = 0,
        hang_s: float = 30.0,
    ):
        self.upstream, self.pattern = upstream.rstrip("/"), pattern
        self.rate, self.kinds, self.hang_s, self._random = rate, kinds, hang_s, random.Random(seed)
        self.seen = self.forwarded = self.faulted = 0
        self.bodies: Counter = Counter()  # sha256 of each forwarded body: a request asked again shows up twice
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy.relay(self, None, strip_usage=False)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy._lock:
                    fault = proxy.decide()
                    proxy.seen += 1
                    proxy.faulted += fault in FAULTS + (HANG,)
                    proxy.forwarded += fault not in FAULTS + (HANG,)
                if fault not in FAULTS + (HANG,):
                    with proxy._lock:
                        proxy.bodies[hashlib.sha256(body).hexdigest()] += 1
                    proxy.relay(self, body, strip_usage=fault == "no-usage")
                else:
                    proxy.fake(self, fault)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def decide(self) -> str | None:
        if self.pattern is not None:
            return self.pattern[self.seen % len(self.pattern)]
        return self._random.choice(self.kinds) if self._random.random() < self.rate else None

    def relay(self, handler: BaseHTTPRequestHandler, body: bytes | None, strip_usage: bool) -> None:
        url = self.upstream + handler.path.removeprefix("/v1")
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, data = error.code, error.read()
        if strip_usage and status == 200:
            data = json.dumps({k: v for k, v in json.loads(data).items() if k != "usage"}).encode()
        self.send(handler, status, data)

    def fake(self, handler: BaseHTTPRequestHandler, fault: str) -> None:
        if fault == HANG:
            time.sleep(self.hang_s)
            handler.close_connection = True
        elif fault == "reset":
            handler.close_connection = True
            handler.connection.close()
        elif fault == "malformed":
            self.send(handler, 200, b'{"choices": [{"message": ')
        elif fault == "empty":
            self.send(
                handler,
                200,
                json.dumps(
                    {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}
                ).encode(),
            )
        else:
            self.send(
                handler,
                int(fault),
                json.dumps({"error": {"message": f"injected {fault}"}}).encode(),
                {"Retry-After": "0"},
            )

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict | None = None) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timed out, or was killed)
            handler.close_connection = True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
