"""`p2m serve RUN_DIR`: the student behind an OpenAI-compatible API on loopback, so an application can
switch its base URL from the teacher to the student. Classifiers also answer POST /v1/classify.

The standard library's threading HTTP server is enough for one small model; inference is serialized
with a lock, since one model instance is shared by the request threads.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from p2m.errors import P2MError
from p2m.student import Student


def make_server(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    model_dir = Path(run_dir) / "model"
    if not (model_dir / "p2m.json").exists():
        raise P2MError(f"{run_dir} has no trained student (no model/p2m.json); run p2m run first")
    student = Student(model_dir)
    name = f"p2m-{Path(run_dir).resolve().name}"
    lock = threading.Lock()

    def predict(texts: list[str]) -> list[str]:
        with lock:
            return student.predict(texts)

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})

        def log_message(self, format, *args):  # quiet: one line per request is noise for a local server
            pass

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "p2m"}]})
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self):
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            except json.JSONDecodeError:
                return self._error(400, "the body is not JSON")
            if self.path.rstrip("/") == "/v1/chat/completions":
                users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
                if not users or not isinstance(users[-1], str):
                    return self._error(400, "messages need a user message with text content: the input")
                answer = predict([users[-1]])[0]
                prompt_tokens, completion_tokens = (len(student.tokenizer(t)["input_ids"]) for t in (users[-1], answer))
                return self._send(200, {
                    "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
                    "model": name,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens},
                })
            if self.path.rstrip("/") == "/v1/classify" and student.is_classifier:
                texts = body.get("input")
                texts = [texts] if isinstance(texts, str) else texts
                if not texts or not all(isinstance(t, str) for t in texts):
                    return self._error(400, "'input' must be a string or a list of strings")
                return self._send(200, {"model": name, "labels": predict(texts)})
            self._error(404, f"no route {self.path}")

    try:
        return ThreadingHTTPServer((host, port), Handler)
    except OSError as error:
        raise P2MError(f"cannot listen on {host}:{port} ({error.strerror}); pass another --port") from None
