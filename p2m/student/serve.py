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

from p2m import run_paths
from p2m.errors import P2MError
from p2m.student.model import Student


class StudentHandler(BaseHTTPRequestHandler):
    """The API's routes; `make_server` binds a subclass to one student."""

    student: Student  # or an OnnxClassifier: the same predict()
    name: str
    lock: threading.Lock

    def predict(self, texts: list[str]) -> list[str]:
        with self.lock:
            return self.student.predict(texts)

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
            self._send(200, {"object": "list", "data": [{"id": self.name, "object": "model", "owned_by": "p2m"}]})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self):
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        except json.JSONDecodeError:
            return self._error(400, "the body is not JSON")
        if self.path.rstrip("/") == "/v1/chat/completions":
            return self._chat(body)
        if self.path.rstrip("/") == "/v1/classify" and self.student.is_classifier:
            return self._classify(body)
        self._error(404, f"no route {self.path}")

    def _chat(self, body: dict) -> None:
        users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
        if not users or not isinstance(users[-1], str):
            return self._error(400, "messages need a user message with text content: the input")
        answer = self.predict([users[-1]])[0]
        prompt_tokens, completion_tokens = (len(self.student.tokenizer(t)["input_ids"]) for t in (users[-1], answer))
        self._send(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": self.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })

    def _classify(self, body: dict) -> None:
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not texts or not all(isinstance(t, str) for t in texts):
            return self._error(400, "'input' must be a string or a list of strings")
        self._send(200, {"model": self.name, "labels": self.predict(texts)})


def load_served_model(run_dir: Path, onnx: bool = False):
    """The torch student, or its ONNX export (`p2m export --format onnx`) run by ONNX Runtime."""
    if not (run_dir / run_paths.MODEL_META).exists():
        raise P2MError(f"{run_dir} has no trained student (no {run_paths.MODEL_META}); run p2m run first")
    if not onnx:
        return Student(run_dir / run_paths.MODEL)
    if not (run_dir / run_paths.ONNX / "model.onnx").exists():
        raise P2MError(f"{run_dir} has no ONNX export; run p2m export {run_dir} --format onnx first")
    from p2m.export.onnx import OnnxClassifier

    return OnnxClassifier(run_dir / run_paths.ONNX)


def make_server(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, onnx: bool = False) -> ThreadingHTTPServer:
    bound = type("BoundStudentHandler", (StudentHandler,), {"student": load_served_model(Path(run_dir), onnx),
                                                            "name": f"p2m-{Path(run_dir).resolve().name}", "lock": threading.Lock()})
    try:
        return ThreadingHTTPServer((host, port), bound)
    except OSError as error:
        raise P2MError(f"cannot listen on {host}:{port} ({error.strerror}); pass another --port") from None
