"""A task's answer from the teacher: the chat requests that ask for it and the likelihood requests that
read its belief in each label. Verify, train (logit-kd's teacher prompt) and evaluate all ask the same
way, so evaluation's teacher calls are the verify stage's, served from the cache.

The user's examples are the teacher's few-shot demonstrations (the task kind's `shots`: a math problem
is asked without them), except for the one being asked about: a user example scored on the held-out set
is answered leave-one-out, never with its own answer shown."""

from __future__ import annotations

import numpy as np

from p2m import prompts
from p2m.spec import TaskSpec
from p2m.teacher.calls import ChatRequest, ScoreRequest

SAMPLE_TEMPERATURE = 0.8


def teacher_requests(spec: TaskSpec, text: str, votes: int) -> list[ChatRequest]:
    """Greedy answer (with top log-probabilities) first, then `votes` sampled answers."""
    kind = spec.kind
    shots = [({"input": e.input}, e.output) for e in kind.shots(spec, text)]
    messages = kind.answer_messages(spec, shots, text)
    max_tokens = kind.answer_tokens(spec)
    greedy = ChatRequest(messages, max_tokens=max_tokens, top_logprobs=10)
    sampled = [
        ChatRequest(messages, max_tokens=max_tokens, temperature=SAMPLE_TEMPERATURE, seed=j + 1) for j in range(votes)
    ]
    return [greedy, *sampled]


def label_requests(spec: TaskSpec, texts: list[str]) -> list[ScoreRequest]:
    """One request per (text, label), text-major: log P(label | task, examples, text)."""

    def examples(text: str) -> str:
        return "".join(f"Input: {e.input}\nLabel: {e.output}\n\n" for e in spec.kind.shots(spec, text))

    glossary = spec.label_glossary()
    return [
        ScoreRequest(
            prompts.fill(
                "label_likelihood", instruction=spec.instruction, glossary=glossary, examples=examples(text), input=text
            ),
            f" {label}",
        )
        for text in texts
        for label in spec.labels
    ]


def softmax_rows(logliks: list[float], labels: list[str]) -> list[dict[str, float]]:
    """Text-major log-likelihoods, one per label, as a distribution over labels per text."""
    loglik = np.array(logliks).reshape(-1, len(labels))
    probs = np.exp(loglik - loglik.max(axis=1, keepdims=True))
    return [dict(zip(labels, row)) for row in (probs / probs.sum(axis=1, keepdims=True)).tolist()]
