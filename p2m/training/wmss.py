"""WMSS data selection (arXiv 2602.08222, "Weak-Driven Discrepancy Selection"): which examples the
weak-driven joint training phase (`p2m.distill.WMSSTrainer`) sees, from entropy dynamics.

For each training example, the mean next-token entropy over its completion under the base checkpoint
(H_base) and under the model after the first SFT (H_sft). An example's weight is
    alpha * H_base + beta * max(0, H_base - H_sft) + gamma * max(0, H_sft - H_base),
each term scaled to [0, 1] over the data set: hard for the base model, a large drop (learned, but
maybe only just), or a rebound (SFT made the model less sure: a regression). The joint phase draws as
many examples as the training set has, with replacement, in proportion to the weights.

Choices, where the paper leaves room: entropies are taken at two points (base, after SFT), so "rebound"
is an entropy rise over the base; a small floor (1% of the mean weight) keeps every example drawable.
"""

from __future__ import annotations

import random

import torch

from p2m.training.distill import CompletionCollator


@torch.no_grad()
def completion_entropies(model, rows: list[dict], tokenizer, batch_size: int = 8) -> list[float]:
    """Mean next-token entropy over each row's completion tokens (rows as `CompletionCollator` takes)."""
    collate = CompletionCollator(tokenizer)
    model.eval()
    device = next(model.parameters()).device
    entropies: list[float] = []
    for start in range(0, len(rows), batch_size):
        batch = collate(rows[start : start + batch_size])
        logits = (
            model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
            .logits[:, :-1]
            .float()
        )
        mask = (batch["labels"][:, 1:] != -100).to(device)
        logp = torch.log_softmax(logits, -1)
        token_entropy = -(logp.exp() * logp).sum(-1)
        entropies += ((token_entropy * mask).sum(1) / mask.sum(1).clamp_min(1)).tolist()
    return entropies


def selection_weights(base: list[float], sft: list[float], alpha: float, beta: float, gamma: float) -> list[float]:
    def scaled(values: list[float]) -> list[float]:
        top = max(values, default=0.0)
        return [v / top if top > 0 else 0.0 for v in values]

    drop = scaled([max(0.0, b - s) for b, s in zip(base, sft)])
    rebound = scaled([max(0.0, s - b) for b, s in zip(base, sft)])
    weights = [alpha * h + beta * d + gamma * r for h, d, r in zip(scaled(base), drop, rebound)]
    floor = 0.01 * (sum(weights) / len(weights) if weights and sum(weights) > 0 else 1.0)
    return [w + floor for w in weights]


def resample(rows: list[dict], weights: list[float], seed: int) -> list[dict]:
    return random.Random(seed).choices(rows, weights=weights, k=len(rows))
