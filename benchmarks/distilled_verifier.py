"""Distilled verifier (Weaver, Saad-Falcon et al. 2025, section 6): a MiniLM cross-encoder trained to
predict the verifier ensemble's scores of the candidates for one input, from (task + input, candidate).

The ensemble needs the teacher several times per input; the cross-encoder needs one small forward pass
per pair, so once trained on a few hundred scored inputs it scores large candidate pools cheaply.

Loss, our choice: Weaver regresses each pair's score with MSE. With a few hundred inputs and K
candidates each, pointwise losses (MSE on a sigmoid, BCE) collapse to the label prior here, so the
K candidates of an input are scored together: cross-entropy between the softmax of their logits and the ensemble's distribution over them
(listwise, as in ListNet). Scores come back as that softmax, comparable across the candidates of one input.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from p2m.device import best_device
from p2m.embedded import minilm_path


@dataclass
class DistilledVerifierConfig:
    epochs: int = 10
    """Passes over the scored inputs: a few hundred inputs give only tens of steps per pass."""
    learning_rate: float = 1e-4
    batch_size: int = 8
    """Inputs per step (each with all its candidates)."""
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

    def _logits(self, queries: list[str], candidates: list[list[str]]) -> list[torch.Tensor]:
        """One logit per candidate, split back per input."""
        pairs = [(q, c) for q, cs in zip(queries, candidates) for c in cs]
        batch = self.tokenizer(
            [q for q, _ in pairs],
            [c for _, c in pairs],
            padding=True,
            truncation="only_first",
            max_length=self.config.max_length,
            return_tensors="pt",
        ).to(self.model.device)
        return list(torch.split(self.model(**batch).logits[:, 0], [len(cs) for cs in candidates]))

    def fit(self, queries: list[str], candidates: list[list[str]], targets: list[list[float]]) -> list[float]:
        """Train on each query's candidates and the ensemble's scores for them (normalized to sum 1);
        returns the mean loss per epoch."""
        torch.manual_seed(self.config.seed)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.config.learning_rate)
        order, losses = list(range(len(queries))), []
        self.model.train()
        for epoch in range(self.config.epochs):
            random.Random(self.config.seed + epoch).shuffle(order)
            total = 0.0
            for start in range(0, len(order), self.config.batch_size):
                rows = order[start : start + self.config.batch_size]
                logits = self._logits([queries[i] for i in rows], [candidates[i] for i in rows])
                loss = 0.0
                for row_logits, i in zip(logits, rows):
                    target = torch.tensor(targets[i], device=row_logits.device, dtype=row_logits.dtype)
                    loss = loss - (target / target.sum().clamp(min=1e-9) * torch.log_softmax(row_logits, -1)).sum()
                loss = loss / len(rows)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(rows)
            losses.append(total / max(len(order), 1))
        self.model.eval()
        return losses

    @torch.inference_mode()
    def score(self, queries: list[str], candidates: list[list[str]], batch_size: int = 16) -> list[list[float]]:
        """Per query, its candidates' scores (a softmax over them)."""
        scores: list[list[float]] = []
        for start in range(0, len(queries), batch_size):
            logits = self._logits(queries[start : start + batch_size], candidates[start : start + batch_size])
            scores += [torch.softmax(row.float(), -1).cpu().tolist() for row in logits]
        return scores
