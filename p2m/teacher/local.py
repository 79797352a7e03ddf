"""Local teacher backend: a causal LM run in-process with transformers.

The default is the embedded SmolLM2-135M-Instruct, so p2m has a teacher with no network and no key.
Requests are generated in batches (left padding), which is what makes a small model usable on CPU.
A sampled request draws from its own seeded generator (`SeededSampler`), so its text does not depend
on which requests share its batch. The model is loaded on the first cache miss, so a fully cached
re-run never pays for loading it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

import torch

from p2m.device import best_device, count_params, use_bf16
from p2m.embedded import SMOLLM2_ID, resolve_model
from p2m.teacher.calls import ChatRequest, ChatResponse, ScoreRequest


class SeededSampler:
    """A logits processor that samples each row from its own generator, seeded by that row's request
    (temperature, then nucleus top-p), and leaves only the drawn token, so greedy decoding takes it.
    transformers' sampling shares one global RNG across the batch; this makes a row's draw its own."""

    def __init__(self, seeds: list[int], temperature: float, top_p: float = 0.95):
        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.temperature, self.top_p = temperature, top_p

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(scores.float().cpu() / self.temperature, dim=-1)
        ranked, order = probs.sort(dim=-1, descending=True)
        ranked = ranked * (ranked.cumsum(dim=-1) - ranked < self.top_p)  # the nucleus; the top token always stays
        drawn = torch.full_like(scores, float("-inf"))
        for row, generator in enumerate(self.generators):
            drawn[row, order[row, torch.multinomial(ranked[row], 1, generator=generator)]] = 0.0
        return drawn


class LocalBackend:
    name = "local"
    price_per_mtok = None
    scores_text = True  # log-likelihoods read in-process
    streams_answers = False

    def __init__(self, model: str = SMOLLM2_ID, batch_size: int = 16):
        self.model = model
        self.batch_size = batch_size
        self._model = None
        self._tokenizer = None

    def load(self):
        """The model and tokenizer, loaded once (logit-kd reuses them as the teacher of the student)."""
        if self._model is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            path = resolve_model(self.model)
            dtype = torch.bfloat16 if use_bf16() else torch.float32
            self._tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
            if self._tokenizer.pad_token is None:
                self._tokenizer.pad_token = self._tokenizer.eos_token
            self._model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(best_device()).eval()
        return self._model, self._tokenizer

    def on_each_request(self, report) -> bool:
        return False  # in-process: no request leaves for the Teacher to be told of

    def num_params(self) -> int:
        """Counted from the checkpoint's safetensors headers (shapes only) when the model is not loaded,
        so evaluating a fully cached run never loads the teacher just to count it."""
        if self._model is None:
            files = sorted(Path(resolve_model(self.model)).glob("*.safetensors"))
            if files:
                from safetensors import safe_open

                total = 0
                for file in files:
                    with safe_open(str(file), "pt") as handle:
                        total += sum(math.prod(handle.get_slice(name).get_shape()) for name in handle.keys())
                return total
        return count_params(self.load()[0])

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model}

    def generate(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        # Requests with the same decoding parameters share a batch; results go back in request order.
        order = sorted(range(len(requests)), key=lambda i: _decoding(requests[i]))
        results: dict[int, ChatResponse] = {}
        for _, group in groupby(order, key=lambda i: _decoding(requests[i])):
            group = list(group)
            for start in range(0, len(group), self.batch_size):
                chunk = group[start : start + self.batch_size]
                for i, response in zip(chunk, self._generate_batch([requests[i] for i in chunk])):
                    results[i] = response
        return [results[i] for i in range(len(requests))]

    @torch.inference_mode()
    def _generate_batch(self, requests: list[ChatRequest]) -> list[ChatResponse]:
        from transformers import LogitsProcessorList

        model, tokenizer = self.load()
        first = requests[0]
        prompts = [
            tokenizer.apply_chat_template(r.as_openai_messages(), add_generation_prompt=True, tokenize=False)
            for r in requests
        ]
        inputs = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        sampler = [SeededSampler([r.seed for r in requests], first.temperature)] if first.temperature > 0 else []
        started = time.perf_counter()
        out = model.generate(
            **inputs,
            max_new_tokens=first.max_tokens,
            do_sample=False,
            logits_processor=LogitsProcessorList(sampler),
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=tokenizer.pad_token_id,
            return_dict_in_generate=True,
            output_logits=first.top_logprobs > 0,
        )
        latency_ms = (time.perf_counter() - started) * 1000 / len(requests)
        new_tokens = out.sequences[:, inputs["input_ids"].shape[1] :]
        prompt_lengths = inputs["attention_mask"].sum(dim=1).tolist()
        responses = []
        for row, tokens in enumerate(new_tokens):
            length = _generated_length(tokens, tokenizer.eos_token_id, tokenizer.pad_token_id)
            responses.append(
                ChatResponse(
                    text=tokenizer.decode(tokens[:length], skip_special_tokens=True).strip(),
                    prompt_tokens=int(prompt_lengths[row]),
                    completion_tokens=length,
                    latency_ms=latency_ms,
                    top_logprobs=_top_logprobs(out.logits, row, length, first.top_logprobs, tokenizer)
                    if first.top_logprobs
                    else [],
                )
            )
        return responses

    @torch.inference_mode()
    def score(self, requests: Sequence[ScoreRequest]) -> list[ChatResponse]:
        """Summed log-probability of each continuation after its prefix, batched with left padding
        (positions are counted from each row's first real token, as in generation)."""
        model, tokenizer = self.load()
        responses = []
        for start in range(0, len(requests), self.batch_size):
            chunk = requests[start : start + self.batch_size]
            started = time.perf_counter()
            prefixes = [tokenizer(r.prefix).input_ids for r in chunk]
            continuations = [tokenizer(r.continuation, add_special_tokens=False).input_ids for r in chunk]
            rows = [p + c for p, c in zip(prefixes, continuations)]
            width = max(map(len, rows))
            ids = torch.full((len(rows), width), tokenizer.pad_token_id)
            mask = torch.zeros_like(ids)
            for i, row in enumerate(rows):
                ids[i, width - len(row) :] = torch.tensor(row)
                mask[i, width - len(row) :] = 1
            positions = (mask.cumsum(1) - 1).clamp(min=0)
            logits = (
                model(
                    input_ids=ids.to(model.device),
                    attention_mask=mask.to(model.device),
                    position_ids=positions.to(model.device),
                )
                .logits[:, :-1]
                .float()
            )
            token_logprobs = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None].to(model.device))[..., 0].cpu()
            latency_ms = (time.perf_counter() - started) * 1000 / len(chunk)
            for i, (row, continuation) in enumerate(zip(rows, continuations)):
                total = token_logprobs[i, width - 1 - len(continuation) :].sum().item() if continuation else 0.0
                responses.append(
                    ChatResponse(text="", prompt_tokens=len(row), latency_ms=latency_ms, logprob=round(total, 4))
                )
        return responses


def _decoding(request: ChatRequest) -> tuple:
    # Not the seed: each sampled row draws from its own seeded generator (SeededSampler).
    return (request.temperature, request.max_tokens, request.top_logprobs)


def _generated_length(tokens: torch.Tensor, eos_id: int, pad_id: int) -> int:
    for position, token in enumerate(tokens.tolist()):
        if token in (eos_id, pad_id):
            return position
    return len(tokens)


def _top_logprobs(logits, row: int, length: int, k: int, tokenizer) -> list[dict[str, float]]:
    steps = []
    for step in logits[: max(length, 1)]:
        values, ids = torch.log_softmax(step[row].float(), dim=-1).topk(k)
        steps.append({tokenizer.decode([i]): round(v, 4) for v, i in zip(values.tolist(), ids.tolist())})
    return steps
