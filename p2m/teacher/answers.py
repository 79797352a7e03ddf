"""A task's answer from the teacher: the chat requests that ask for it and the likelihood requests that
read its belief in each label. Verify, train (logit-kd's teacher prompt) and evaluate all ask the same
way, so evaluation's teacher calls are the verify stage's, served from the cache.

The user's examples are the teacher's few-shot demonstrations, except for the one being asked about:
a user example scored on the held-out set is answered leave-one-out, never with its own answer shown.
A math problem is asked without them: a small chat model copies a shown solution's length, and one-line
examples halve its accuracy (GSM8K, 40 items outside the benchmark's: 0.25 with two, 0.50 without)."""

from __future__ import annotations

import numpy as np

from p2m import prompts
from p2m.spec import TaskSpec
from p2m.teacher.calls import ChatRequest, ScoreRequest

SAMPLE_TEMPERATURE = 0.8
SOLUTION_TOKENS = 320  # a worked grade-school solution (GSM8K's reference ones: ~100 tokens) with room to spare


def shots_for(spec: TaskSpec, text: str) -> list:
    """The few-shot examples for asking about `text`: the first four with an answer, less `text` itself
    (none for math: the solve prompt fixes the answer's format, the problem fixes its length)."""
    if spec.task_type == "math":
        return []
    return [e for e in spec.examples[:4] if e.output and e.input != text]


def answer_tokens(spec: TaskSpec) -> int:
    """The new tokens the teacher may write for one answer: a label's few, a worked solution's, or
    about three times the longest example answer (counted in characters, ~3 to a token)."""
    if spec.task_type == "classification":
        return 6
    if spec.task_type == "math":
        return SOLUTION_TOKENS
    longest = max((len(e.output) for e in spec.examples), default=0)
    return min(256, max(24, longest)) if longest else 128


def teacher_requests(spec: TaskSpec, text: str, votes: int) -> list[ChatRequest]:
    """Greedy answer (with top log-probabilities) first, then `votes` sampled answers."""
    shots = [({"input": e.input}, e.output) for e in shots_for(spec, text)]
    if spec.task_type == "classification":
        choices = " or ".join([", ".join(spec.labels[:-1]), spec.labels[-1]])
        messages = prompts.chat("classify", shots, instruction=spec.instruction, glossary=spec.label_glossary(),
                                labels=", ".join(spec.labels), label_choices=choices, input=text)
    elif spec.task_type == "math":  # distilling step by step: reasoning, then the marked final number
        messages = prompts.chat("solve", shots, instruction=spec.instruction, input=text)
    else:
        messages = prompts.chat("answer", shots, instruction=spec.instruction, input=text)
    max_tokens = answer_tokens(spec)
    greedy = ChatRequest(messages, max_tokens=max_tokens, top_logprobs=10)
    sampled = [ChatRequest(messages, max_tokens=max_tokens, temperature=SAMPLE_TEMPERATURE, seed=j + 1) for j in range(votes)]
    return [greedy, *sampled]


def label_requests(spec: TaskSpec, texts: list[str]) -> list[ScoreRequest]:
    """One request per (text, label), text-major: log P(label | task, examples, text)."""
    def examples(text: str) -> str:
        return "".join(f"Input: {e.input}\nLabel: {e.output}\n\n" for e in shots_for(spec, text))

    glossary = spec.label_glossary()
    return [ScoreRequest(prompts.fill("label_likelihood", instruction=spec.instruction, glossary=glossary, examples=examples(text), input=text),
                         f" {label}")
            for text in texts for label in spec.labels]


def softmax_rows(logliks: list[float], labels: list[str]) -> list[dict[str, float]]:
    """Text-major log-likelihoods, one per label, as a distribution over labels per text."""
    loglik = np.array(logliks).reshape(-1, len(labels))
    probs = np.exp(loglik - loglik.max(axis=1, keepdims=True))
    return [dict(zip(labels, row)) for row in (probs / probs.sum(axis=1, keepdims=True)).tolist()]
