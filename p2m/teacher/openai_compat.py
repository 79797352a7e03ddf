"""OpenAI-compatible teacher backend: OpenAI itself, or any server speaking its API (vLLM, llama.cpp
server, Ollama) through `base_url`. The API key is read from the environment and never stored.

Requests run `concurrency` at a time, so a batching server (vLLM, llama-server with parallel slots)
stays busy. A server that returns correct prompt log-probabilities from `/v1/completions` (`echo` with `logprobs`,
as vLLM does) also scores text, so the verifiers that read the teacher's likelihoods run as with an
in-process teacher. Whether it does is probed once per (server, model) and remembered in p2m's cache:
the echoed log-probability of the server's own greedy next token must equal the one it reported when
generating it. llama.cpp's C++ server returns no prompt log-probabilities (ggml-org/llama.cpp#27174)
and llama-cpp-python's gives each token's under the distribution after it (abetlen/llama-cpp-python
#1983), so both fail the probe and the verifiers read their votes and first-token probabilities."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

import openai

from p2m.errors import P2MError, TeacherUnavailable
from p2m.privacy import redact_url
from p2m.teacher.calls import ChatRequest, ChatResponse, ScoreRequest, TransientError
from p2m.teacher.files import remembered_fact

# USD per million (prompt, completion) tokens, for the cost estimate; unknown models cost "unknown".
PRICES = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}
DEFAULT_MODEL = "gpt-4o-mini"


class OpenAIBackend:
    name = "openai"
    streams_answers = True  # generate/score(streaming=True): each answer as it completes, cached at once

    def __init__(
        self, model: str | None = None, base_url: str | None = None, concurrency: int = 4, timeout_s: float = 60
    ):
        self.base_url = base_url
        api_key = os.environ.get("OPENAI_API_KEY") or ("not-needed" if base_url else None)
        if api_key is None:
            raise P2MError("the OpenAI teacher needs OPENAI_API_KEY in the environment, or --teacher-base-url")
        # Retries are the Teacher's job (one policy for every backend), so the client makes one try.
        # Every POST is reported before it leaves (`on_each_request`): the Teacher journals it, so the
        # ledger counts what the server saw, probes and refused JSON dialects included.
        self._on_request: Callable[[], None] = lambda: None
        http = openai.DefaultHttpxClient(event_hooks={"request": [self._sending]})
        self._client = openai.OpenAI(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s, http_client=http
        )
        self.model = model or (self._first_served_model() if base_url else DEFAULT_MODEL)
        self.price_per_mtok = PRICES.get(self.model)
        self.concurrency = concurrency
        self._schema_dialect: str | None = None  # learnt on the first JSON-schema request
        self._scores_text: bool | None = None
        self._dialect_wins: Counter = Counter()  # requests each dialect answered after earlier ones failed

    def _sending(self, request) -> None:
        if request.method == "POST":
            self._on_request()

    def on_each_request(self, report: Callable[[], None]) -> bool:
        self._on_request = report
        return True

    def num_params(self) -> None:
        return None  # a server does not say

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model, "base_url": redact_url(self.base_url)}

    def _first_served_model(self) -> str:
        """A local server usually serves one model; ask it which, so `--teacher` can be left out."""
        try:
            return self._client.models.list().data[0].id
        except (openai.APIConnectionError, openai.APITimeoutError):
            raise TeacherUnavailable(f"cannot reach the teacher server at {redact_url(self.base_url)}") from None
        except (openai.APIError, IndexError) as error:
            raise TeacherUnavailable(
                f"the teacher server at {redact_url(self.base_url)} lists no model ({error}); pass --teacher MODEL"
            ) from None

    def generate(self, requests: Sequence[ChatRequest], streaming: bool = False):
        """Answers in order, or with `streaming` (index, answer) pairs as they complete; a request that
        failed transiently is its error, so the Teacher retries it alone."""
        return self._each(self._one, requests, streaming)

    def _each(self, answer, requests: Sequence, streaming: bool = False):
        def attempt(request):
            try:
                return answer(request)
            except TransientError as error:
                return error

        if streaming:
            return self._as_completed(attempt, requests)
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(attempt, requests))

    def _as_completed(self, attempt, requests: Sequence):
        with ThreadPoolExecutor(self.concurrency) as pool:
            futures = {pool.submit(attempt, request): j for j, request in enumerate(requests)}
            for future in as_completed(futures):
                yield futures[future], future.result()

    @property
    def scores_text(self) -> bool:
        """Whether `score` works here: OpenAI's own chat models give no prompt log-probabilities; a
        server is asked once (one short completion) and the answer remembered."""
        if not self.base_url:
            return False
        if self._scores_text is None:
            try:
                self._scores_text = remembered_fact(
                    f"scores-text|{redact_url(self.base_url)}|{self.model}", self._probe_scoring
                )
            except TransientError:  # a server error or a hiccup: no scoring this time, nothing remembered
                self._scores_text = False
        return self._scores_text

    def _probe_scoring(self) -> bool:
        prompt = "The capital of France is"
        try:
            generated = (
                self._create(
                    self._client.completions.create,
                    {"model": self.model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0, "logprobs": 1},
                )
                .choices[0]
                .logprobs
            )
            echoed = self._prompt_logprobs(prompt + generated.tokens[0])
        except TeacherUnavailable:  # the server refuses the request: it does not score
            return False
        except (AttributeError, IndexError, TypeError):  # no log-probabilities in its answer
            return False
        at_token = [logprob for start, _, logprob in echoed if start == len(prompt)]
        return bool(at_token) and abs(at_token[0] - generated.token_logprobs[0]) < 0.05

    def score(self, requests: Sequence[ScoreRequest], streaming: bool = False):
        return self._each(self._score_one, requests, streaming)

    def _score_one(self, request: ScoreRequest) -> ChatResponse:
        """log P(continuation | prefix): the prompt log-probabilities of the tokens past the prefix."""
        started = time.perf_counter()
        text = request.prefix + request.continuation
        tokens = self._prompt_logprobs(text)
        return ChatResponse(
            text="",
            prompt_tokens=len(tokens),
            latency_ms=(time.perf_counter() - started) * 1000,
            logprob=round(continuation_logprob(tokens, len(request.prefix), len(text)), 4),
        )

    def _prompt_logprobs(self, text: str) -> list[tuple[int, int, float]]:
        """(start, end, log-probability) of each prompt token that has one (the first has none)."""
        completion = self._create(
            self._client.completions.create,
            {"model": self.model, "prompt": text, "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": 1},
        )
        logprobs = completion.choices[0].logprobs if completion.choices else None
        if not logprobs or not logprobs.token_logprobs or not logprobs.text_offset:
            return []
        return [
            (offset, offset + len(token), logprob)
            for offset, token, logprob in zip(logprobs.text_offset, logprobs.tokens, logprobs.token_logprobs)
            if logprob is not None
        ]

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
            completion = self._create(self._client.chat.completions.create, params)
        latency_ms = (time.perf_counter() - started) * 1000
        if not completion.choices:
            raise TransientError(f"an answer with no choices from {self.base_url or 'OpenAI'}")
        choice = completion.choices[0]
        usage = completion.usage
        logprobs = []
        if choice.logprobs and choice.logprobs.content:
            logprobs = [{alt.token: alt.logprob for alt in token.top_logprobs} for token in choice.logprobs.content]
        text = (choice.message.content or "").strip()
        return ChatResponse(
            text=text,
            # no usage in the answer: estimated (~4 characters a token) and marked, so budgets still see the spend
            prompt_tokens=usage.prompt_tokens if usage else request.rough_tokens() - request.max_tokens,
            completion_tokens=usage.completion_tokens if usage else len(text) // 4 + 1,
            tokens_estimated=usage is None,
            latency_ms=latency_ms,
            top_logprobs=logprobs,
        )

    def _create(self, create, params: dict):
        try:
            return create(**params)
        except Exception as error:
            raise self._failure(error) from None

    def _failure(self, error: Exception) -> Exception:
        """What a failed request is to the Teacher: transient (asked again), a refusal, or a bug (as it is)."""
        where = self.base_url or "OpenAI"
        if isinstance(
            error,
            (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError, openai.InternalServerError),
        ):
            return TransientError(f"{type(error).__name__} from {where}", retry_after(error))
        if isinstance(
            error, (openai.APIResponseValidationError, ValueError)
        ):  # a malformed body (JSONDecodeError is a ValueError)
            return TransientError(f"a malformed answer from {where}: {type(error).__name__}")
        if isinstance(error, openai.APIStatusError):
            return TeacherUnavailable(f"teacher {self.model} refused the request: {error.message}")
        return error

    def _create_with_schema(self, params: dict, schema: dict):
        """Servers differ in how they take a JSON schema: OpenAI and vLLM use `json_schema`, llama.cpp's
        Python server `json_object` with a `schema`, some none at all (the prompt still asks for JSON).
        Try them in that order; remember the first the server accepts once every one before it was
        refused outright (4xx). llama.cpp's Python server answers an unknown response_format with a 500,
        which a flaky server also sends, so a dialect reached past a 500 is remembered only once it has
        been so reached for DIALECT_EVIDENCE requests."""
        if self._schema_dialect is not None:
            return self._create(
                self._client.chat.completions.create, {**params, **_response_format(self._schema_dialect, schema)}
            )
        refused_outright = True
        for dialect in SCHEMA_DIALECTS:
            completion, refusal = self._try_dialect(params, dialect, schema)
            if completion is not None:
                self._dialect_wins[dialect] += 1
                if refused_outright or self._dialect_wins[dialect] >= DIALECT_EVIDENCE:
                    self._schema_dialect = dialect
                return completion
            refused_outright = refused_outright and refusal == "4xx"
        if not refused_outright:  # a 500 on the way: a flaky server, asked again later
            raise TransientError(f"a server error from {self.base_url} on every JSON dialect")
        raise TeacherUnavailable(f"teacher {self.model} at {self.base_url} rejects every request for JSON output")

    def _try_dialect(self, params: dict, dialect: str, schema: dict):
        """(completion, None), or (None, '4xx' | '500') when the server did not take this dialect."""
        try:
            return self._client.chat.completions.create(**params, **_response_format(dialect, schema)), None
        except (openai.BadRequestError, openai.UnprocessableEntityError):
            return None, "4xx"
        except openai.InternalServerError:
            return None, "500"
        except Exception as error:
            raise self._failure(error) from None


def continuation_logprob(tokens: list[tuple[int, int, float]], prefix_chars: int, text_chars: int) -> float:
    """Sum over the echoed prompt tokens that reach past the prefix (a token straddling the boundary
    counts: it carries continuation text), leaving out the one generated after the text."""
    return sum(logprob for start, end, logprob in tokens if end > prefix_chars and start < text_chars)


def retry_after(error: Exception) -> float | None:
    """The seconds a server's Retry-After header asks for, if it sent one as a number."""
    response = getattr(error, "response", None)
    try:
        return float(response.headers["retry-after"]) if response is not None else None
    except (KeyError, TypeError, ValueError):
        return None


SCHEMA_DIALECTS = ("json_schema", "json_object", "none")
DIALECT_EVIDENCE = 3


def _response_format(dialect: str, schema: dict) -> dict:
    if dialect == "json_schema":
        return {"response_format": {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}}
    if dialect == "json_object":
        return {"response_format": {"type": "json_object", "schema": schema}}
    return {}
