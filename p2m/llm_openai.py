"""OpenAI-compatible teacher backend: OpenAI itself, or any server speaking its API (vLLM, llama.cpp
server, Ollama) through `base_url`. The API key is read from the environment and never stored."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import openai

from p2m.errors import P2MError, TeacherUnavailable
from p2m.llm import ChatRequest, ChatResponse, TransientError

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
        if request.json_schema:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.json_schema},
            }
        started = time.perf_counter()
        try:
            completion = self._client.chat.completions.create(**params)
        except (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError, openai.InternalServerError) as error:
            raise TransientError(f"{type(error).__name__} from {self.base_url or 'OpenAI'}") from None
        except openai.APIStatusError as error:
            raise TeacherUnavailable(f"teacher {self.model} refused the request: {error.message}") from None
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
