"""`p2m serve RUN_DIR`: the student behind an OpenAI-compatible API, so an application can switch its
base URL from the teacher to the student. Classifiers also answer POST /v1/classify.

Starlette under uvicorn (an ASGI app on an event loop: thousands of waiting connections cost no
threads, uvicorn listens with a backlog of 2048). The model runs on one worker thread; requests that
arrive while it works queue up and go to the model together as the next batch, so concurrent clients
share forward passes instead of waiting on a lock. Every request the app sees is validated (size,
time to send the body, JSON, shapes) and every error is a JSON body with a 4xx/5xx status; malformed
HTTP that uvicorn itself rejects gets the same JSON shape (`JsonErrorProtocol`).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from p2m import run_paths
from p2m.errors import P2MError
from p2m.files import read_json
from p2m.student.kinds import Predictor

MAX_BODY_BYTES = 1 << 20
DRAIN_BYTES = 16 << 20  # an oversized body up to this is read and dropped before the 413
MAX_TEXTS = 256  # per request
MAX_BATCH_TEXTS = 64  # per forward pass: what one worker step takes from the queue
BODY_TIMEOUT_S = 10.0  # to receive a whole body: a client that announces more than it sends is cut off
PREDICT_TIMEOUT_S = 120.0
MAX_CONNECTIONS = 4096  # past this uvicorn answers 503
BACKLOG = 2048


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def error_body(status: int, message: str) -> bytes:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return json.dumps({"error": {"message": message, "type": kind, "code": status}}).encode()


class Batcher:
    """Texts from concurrent requests, run through the model together on one worker thread."""

    def __init__(self, predict):
        self.predict = predict
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="p2m-model")
        self.queue: asyncio.Queue | None = None
        self.batches = 0  # forward-pass groups run, for tests and the load benchmark

    async def run(self) -> None:
        self.queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            while not self.queue.empty() and sum(len(texts) for texts, _ in jobs) < MAX_BATCH_TEXTS:
                jobs.append(self.queue.get_nowait())
            jobs = [(texts, future) for texts, future in jobs if not future.done()]  # timed out while queued
            if not jobs:
                continue
            self.batches += 1
            try:
                labels = await loop.run_in_executor(self.worker, self.predict, [t for texts, _ in jobs for t in texts])
            except Exception as error:  # the model failed: each waiting request gets a 500, the server stays up
                for _, future in jobs:
                    future.done() or future.set_exception(error)
                continue
            start = 0
            for texts, future in jobs:
                future.done() or future.set_result(labels[start : start + len(texts)])
                start += len(texts)

    async def __call__(self, texts: list[str]) -> list[str]:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, future))
        try:
            return await asyncio.wait_for(future, PREDICT_TIMEOUT_S)
        except TimeoutError:
            raise BadRequest(503, f"the model did not answer within {PREDICT_TIMEOUT_S:.0f} s; try again") from None


async def request_json(request) -> object:
    """The body as JSON, within the size and time limits. An oversized body is still read (up to
    DRAIN_BYTES) before the 413, so the client gets the answer rather than a reset connection."""
    length = request.headers.get("content-length")
    if length is not None and not length.isdigit():
        raise BadRequest(400, "Content-Length must be a number of bytes")
    body, received = bytearray(), [0]

    async def receive() -> None:
        async for chunk in request.stream():
            received[0] += len(chunk)
            if received[0] > DRAIN_BYTES:
                break
            if received[0] <= MAX_BODY_BYTES:
                body.extend(chunk)

    too_large = BadRequest(413, f"the body must be at most {MAX_BODY_BYTES} bytes")
    if length is not None and int(length) > DRAIN_BYTES:
        raise too_large
    try:
        await asyncio.wait_for(receive(), BODY_TIMEOUT_S)
    except TimeoutError:
        raise BadRequest(408, f"the body did not arrive within {BODY_TIMEOUT_S:.0f} s") from None
    if received[0] > MAX_BODY_BYTES:
        raise too_large
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest(400, "the body is not UTF-8") from None
    except (json.JSONDecodeError, RecursionError):
        raise BadRequest(400, "the body is not JSON") from None


def chat_input(body: object) -> str:
    """The last user message's text: the student's input."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise BadRequest(400, "'messages' must be a list of {role, content} objects")
    users = [m.get("content") for m in messages if m.get("role") == "user"]
    if not users or not isinstance(users[-1], str) or not users[-1].strip():
        raise BadRequest(400, "messages need a user message with text content: the input")
    return users[-1]


def classify_input(body: object) -> list[str]:
    texts = body.get("input") if isinstance(body, dict) else None
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise BadRequest(400, "'input' must be a string or a non-empty list of strings")
    if len(texts) > MAX_TEXTS:
        raise BadRequest(413, f"at most {MAX_TEXTS} inputs per request")
    return texts


def error(status: int, message: str):
    """An OpenAI-style error response; the connection closes where the request's body was left unread."""
    from starlette.responses import Response

    unread_body = status in (408, 413)  # the rest of the body would be read as the next request
    return Response(
        error_body(status, message),
        status,
        media_type="application/json",
        headers={"connection": "close"} if unread_body else None,
    )


def chat_completion(name: str, answer: str, prompt_tokens: int, completion_tokens: int) -> dict:
    """An OpenAI chat.completion object holding the student's answer."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def build_app(model: Predictor, name: str):
    """The ASGI app for one loaded student (a `Student`, `OnnxStudent` or `GgufStudent`: the same predict())."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    batcher = Batcher(model.predict)

    async def models(request):
        return JSONResponse({"object": "list", "data": [{"id": name, "object": "model", "owned_by": "p2m"}]})

    async def chat(request):
        text = chat_input(await request_json(request))
        answer = (await batcher([text]))[0]
        return JSONResponse(chat_completion(name, answer, model.count_tokens(text), model.count_tokens(answer)))

    async def classify(request):
        if not model.kind.classifies:
            raise BadRequest(404, "this student generates text: use /v1/chat/completions")
        return JSONResponse({"model": name, "labels": await batcher(classify_input(await request_json(request)))})

    @asynccontextmanager
    async def lifespan(app):
        worker = asyncio.create_task(batcher.run())
        yield
        worker.cancel()
        batcher.worker.shutdown(wait=False)

    handlers = {
        BadRequest: lambda request, exc: error(exc.status, str(exc)),
        HTTPException: lambda request, exc: error(
            exc.status_code, f"{request.method} {request.url.path}: {exc.detail}"
        ),
        Exception: lambda request, exc: error(500, f"the model failed on this request ({type(exc).__name__})"),
    }
    app = Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/classify", classify, methods=["POST"]),
        ],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    return app


def load_served_model(run_dir: Path, runtime: str = "torch") -> Predictor:
    """The torch student, its ONNX export run by ONNX Runtime, or a text student's GGUF export run by
    llama.cpp (on 2 CPU cores it answered Temporal 5.7x faster than the teacher, torch 2.1x)."""
    if not (run_dir / run_paths.MODEL_META).exists():
        raise P2MError(f"{run_dir} has no trained student (no {run_paths.MODEL_META}); run p2m run first")
    if runtime == "torch":
        from p2m.student.model import Student

        return Student(run_dir / run_paths.MODEL)
    folder, file = {"onnx": (run_paths.ONNX, "model.onnx"), "gguf": (run_paths.GGUF, "model.gguf")}[runtime]
    if not (run_dir / folder / file).exists():
        raise P2MError(f"{run_dir} has no {runtime.upper()} export; run p2m export {run_dir} --format {runtime} first")
    if runtime == "onnx":
        from p2m.export.onnx import OnnxStudent

        return OnnxStudent(run_dir / folder)
    from p2m.export.gguf import GgufStudent

    return GgufStudent(run_dir / folder / file, read_json(run_dir / run_paths.MODEL_META))


class StudentServer:
    """A student on host:port: `run()` in the foreground (the CLI), `start()`/`stop()` on a background
    thread (tests, the Python API). The socket is bound here, so a taken port is one line."""

    def __init__(self, model: Predictor, name: str, host: str = "127.0.0.1", port: int = 8000):
        import uvicorn

        self.app = build_app(model, name)
        try:
            self.socket = socket.create_server((host, port), backlog=BACKLOG)
        except OSError as error:
            raise P2MError(f"cannot listen on {host}:{port} ({error.strerror}); pass another --port") from None
        self.port = self.socket.getsockname()[1]
        self.url = f"http://{host}:{self.port}/v1"
        config = uvicorn.Config(
            self.app,
            http=json_error_protocol(),
            log_level="warning",
            access_log=False,
            limit_concurrency=MAX_CONNECTIONS,
            backlog=BACKLOG,
            timeout_keep_alive=5,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @classmethod
    def for_run(
        cls, run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, runtime: str = "torch"
    ) -> StudentServer:
        return cls(load_served_model(Path(run_dir), runtime), f"p2m-{Path(run_dir).resolve().name}", host, port)

    def run(self) -> None:
        self.server.run(sockets=[self.socket])

    def start(self) -> StudentServer:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        while not self.server.started and self._thread.is_alive():
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread:
            self._thread.join(timeout=30)
        self.socket.close()


def json_error_protocol():
    """uvicorn's h11 protocol, answering the requests it rejects itself (a bad request line, a
    Content-Length that is not a number) with the API's JSON error instead of plain text."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class JsonErrorProtocol(H11Protocol):
        def send_400_response(self, msg: str) -> None:
            body = error_body(400, f"malformed HTTP request: {msg}")
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            for event in (
                h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event))
            self.transport.close()

    return JsonErrorProtocol
