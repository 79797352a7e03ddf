"""OpenAI-compatible teacher backend: OpenAI itself, or any server speaking its API (vLLM, llama.cpp
server, Ollama) through `base_url`. The API key is read from the environment and never stored."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import openai

from p2m.errors import P2MError, TeacherUnavailable
from p2m.teacher.calls import ChatRequest, ChatResponse, TransientError

# USD per million (prompt, completion) tokens, for the cost estimate; unknown models cost "unknown".
PRICES = {"gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00), "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1-nano": (0.10, 0.40)}
DEFAULT_MODEL = "gpt-4o-mini"


class OpenAIBackend:
    name = "openai"

    def __init__(self, model: str | None = None, base_url: str | None = None, concurrency: int = 4, timeout_s: float = 60):
        self.base_url = base_url
        api_key = os.environ.get("OPENAI_API_KEY") or ("not-needed" if base_url else None)
        if api_key is None:
            raise P2MError("the OpenAI teacher needs OPENAI_API_KEY in the environment, or --teacher-base-url")
        # Retries are the Teacher's job (one policy for every backend), so the client makes one try.
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s)
        self.model = model or (self._first_served_model() if base_url else DEFAULT_MODEL)
        self.price_per_mtok = PRICES.get(self.model)
        self.concurrency = concurrency
        self._schema_dialect: str | None = None  # learnt on the first JSON-schema request

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model, "base_url": self.base_url}

    def _first_served_model(self) -> str:
        """A local server usually serves one model; ask it which, so `--teacher` can be left out."""
        try:
            return self._client.models.list().data[0].id
        except (openai.APIConnectionError, openai.APITimeoutError):
            raise TeacherUnavailable(f"cannot reach the teacher server at {self.base_url}") from None
        except (openai.APIError, IndexError) as error:
            raise TeacherUnavailable(f"the teacher server at {self.base_url} lists no model ({error}); pass --teacher MODEL") from None

    def generate(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(self._one, requests))

    def _one(self, request: ChatRequest) -> ChatResponse:
        params: dict = {
            "model": self.model,
            "messages": request.as_openai_messages(),
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "seed": request.seed,
        }
        if request.top_logprobs:
            params.update(logprobs=True, top_logprobs=request.top_logprobs)
        started = time.perf_counter()
        if request.json_schema:
            completion = self._create_with_schema(params, request.json_schema)
        else:
            completion = self._create(params)
        latency_ms = (time.perf_counter() - started) * 1000
        choice = completion.choices[0]
        usage = completion.usage
        logprobs = []
        if choice.logprobs and choice.logprobs.content:
            logprobs = [{alt.token: alt.logprob for alt in token.top_logprobs} for token in choice.logprobs.content]
        return ChatResponse(
            text=(choice.message.content or "").strip(),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_ms=latency_ms,
            top_logprobs=logprobs,
        )

    def _create(self, params: dict):
        try:
            return self._client.chat.completions.create(**params)
        except (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError, openai.InternalServerError) as error:
            raise TransientError(f"{type(error).__name__} from {self.base_url or 'OpenAI'}") from None
        except openai.APIStatusError as error:
            raise TeacherUnavailable(f"teacher {self.model} refused the request: {error.message}") from None

    def _create_with_schema(self, params: dict, schema: dict):
        """Servers differ in how they take a JSON schema: OpenAI and vLLM use `json_schema`, llama.cpp's
        Python server `json_object` with a `schema`, some none at all (the prompt still asks for JSON).
        Try them in that order once; remember the first the server accepts."""
        if self._schema_dialect is not None:
            return self._create({**params, **_response_format(self._schema_dialect, schema)})
        for dialect in SCHEMA_DIALECTS:
            try:
                completion = self._client.chat.completions.create(**params, **_response_format(dialect, schema))
            except (openai.BadRequestError, openai.UnprocessableEntityError, openai.InternalServerError):
                continue  # llama.cpp's server answers an unknown response_format with a 500
            except (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError) as error:
                raise TransientError(f"{type(error).__name__} from {self.base_url or 'OpenAI'}") from None
            self._schema_dialect = dialect
            return completion
        raise TeacherUnavailable(f"teacher {self.model} at {self.base_url} rejects every request for JSON output")


SCHEMA_DIALECTS = ("json_schema", "json_object", "none")


def _response_format(dialect: str, schema: dict) -> dict:
    if dialect == "json_schema":
        return {"response_format": {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}}
    if dialect == "json_object":
        return {"response_format": {"type": "json_object", "schema": schema}}
    return {}
