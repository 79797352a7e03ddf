"""A loopback proxy in front of a real OpenAI-compatible server that injects faults on a fixed pattern:
HTTP 429 / 500 / 503, a dropped connection, a malformed body, an answer with no choices; and, not a
fault, a real answer with its `usage` removed ("no-usage", as some servers send). The client
under test is the real `openai` client; every request the proxy does not fault reaches the real server."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("429", "500", "503", "reset", "malformed", "empty")


class FaultProxy:
    """`pattern[n % len(pattern)]` decides the n-th POST: None forwards it, a FAULTS name fakes that failure."""

    def __init__(self, upstream: str, pattern: list[str | None]):
        self.upstream, self.pattern = upstream.rstrip("/"), pattern
        self.seen = self.forwarded = self.faulted = 0
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
                    fault = proxy.pattern[proxy.seen % len(proxy.pattern)]
                    proxy.seen += 1
                    proxy.faulted += fault in FAULTS
                    proxy.forwarded += fault not in FAULTS
                if fault not in FAULTS:
                    proxy.relay(self, body, strip_usage=fault == "no-usage")
                else:
                    proxy.fake(self, fault)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

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
        if fault == "reset":
            handler.close_connection = True
            handler.connection.close()
        elif fault == "malformed":
            self.send(handler, 200, b'{"choices": [{"message": ')
        elif fault == "empty":
            self.send(handler, 200, json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}).encode())
        else:
            self.send(handler, int(fault), json.dumps({"error": {"message": f"injected {fault}"}}).encode(), {"Retry-After": "0"})

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
