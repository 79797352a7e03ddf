"""Sentence embeddings with the embedded MiniLM (mean pooling, unit length), for the embedding
verifier. Loaded with plain transformers: no sentence-transformers needed at run time."""

from __future__ import annotations

import torch

from p2m.device import best_device
from p2m.embedded import minilm_path


class Embedder:
    def __init__(self, path: str | None = None):
        from transformers import AutoModel, AutoTokenizer

        path = path or str(minilm_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(best_device()).eval()

    @torch.inference_mode()
    def encode(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        chunks = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(texts[start : start + batch_size], padding=True, truncation=True, max_length=256, return_tensors="pt").to(self.model.device)
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu())
        return torch.cat(chunks) if chunks else torch.empty(0, 384)

    def label_probs(self, texts: list[str], prototypes: dict[str, list[str]], temperature: float = 0.05) -> list[dict[str, float]]:
        """Softmax over labels of the cosine similarity to each label's mean prototype embedding."""
        labels = list(prototypes)
        centroids = torch.stack([torch.nn.functional.normalize(self.encode(prototypes[l]).mean(0), dim=0) for l in labels])
        probs = torch.softmax(self.encode(texts) @ centroids.T / temperature, dim=-1)
        return [dict(zip(labels, row.tolist())) for row in probs]
