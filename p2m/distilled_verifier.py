"""Distilled verifier (Weaver, Saad-Falcon et al. 2025, section 6): a MiniLM cross-encoder trained to
predict the verifier ensemble's score of a (task + input, candidate) pair.

The ensemble needs the teacher several times per input; the cross-encoder needs one small forward pass
per pair, so once trained on a few hundred scored inputs it scores large candidate pools cheaply.
Trained with MSE between sigmoid(logit) and the ensemble score, as the paper does. Measured
(benchmarks/verifiers.py): on 150 scored inputs it does not leave the MSE plateau and predicts one
label for every input (SST-2 0.51); the same training on 150 gold labels reaches 0.64-0.68. It needs
more scored inputs (the paper uses thousands) before a run should rely on it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from p2m.device import best_device
from p2m.embedded import minilm_path


@dataclass
class DistilledVerifierConfig:
    epochs: int = 8
    """Passes over the scored pairs: a few hundred inputs give only tens of steps per pass."""
    learning_rate: float = 2e-4
    batch_size: int = 16
    max_length: int = 128
    """Tokens of (task + input, candidate); longer inputs are truncated from the input side."""
    seed: int = 0


class DistilledVerifier:
    def __init__(self, path: str | None = None, config: DistilledVerifierConfig | None = None):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.config = config or DistilledVerifierConfig()
        path = path or str(minilm_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1).to(best_device())

    def _batch(self, queries: list[str], candidates: list[str]):
        return self.tokenizer(queries, candidates, padding=True, truncation="only_first", max_length=self.config.max_length,
                              return_tensors="pt").to(self.model.device)

    def fit(self, queries: list[str], candidates: list[str], targets: list[float]) -> list[float]:
        """Train on (query, candidate) -> target score in [0, 1]; returns the mean loss per epoch."""
        torch.manual_seed(self.config.seed)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.config.learning_rate)
        order, losses = list(range(len(queries))), []
        self.model.train()
        for epoch in range(self.config.epochs):
            random.Random(self.config.seed + epoch).shuffle(order)
            total = 0.0
            for start in range(0, len(order), self.config.batch_size):
                rows = order[start : start + self.config.batch_size]
                logits = self.model(**self._batch([queries[i] for i in rows], [candidates[i] for i in rows])).logits[:, 0]
                target = torch.tensor([targets[i] for i in rows], device=logits.device)
                loss = torch.nn.functional.mse_loss(torch.sigmoid(logits), target)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(rows)
            losses.append(total / max(len(order), 1))
        self.model.eval()
        return losses

    @torch.inference_mode()
    def score(self, queries: list[str], candidates: list[str], batch_size: int = 64) -> list[float]:
        scores: list[float] = []
        for start in range(0, len(queries), batch_size):
            batch = self._batch(queries[start : start + batch_size], candidates[start : start + batch_size])
            scores += torch.sigmoid(self.model(**batch).logits[:, 0]).float().cpu().tolist()
        return scores
