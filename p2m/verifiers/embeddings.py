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
            batch = self.tokenizer(
                texts[start : start + batch_size], padding=True, truncation=True, max_length=256, return_tensors="pt"
            ).to(self.model.device)
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu())
        return torch.cat(chunks) if chunks else torch.empty(0, 384)

    def label_probs(
        self, texts: list[str], prototypes: dict[str, list[str]], temperature: float = 0.05
    ) -> list[dict[str, float]]:
        """Softmax over labels of the cosine similarity to each label's mean prototype embedding."""
        pool = [(text, label) for label, texts_of_label in prototypes.items() for text in texts_of_label]
        return self.pool_probs(
            texts, [t for t, _ in pool], [l for _, l in pool], list(prototypes), temperature=temperature
        )

    def pool_probs(
        self,
        texts: list[str],
        pool_texts: list[str],
        pool_labels: list[str],
        labels: list[str],
        own: list[int | None] | None = None,
        temperature: float = 0.05,
    ) -> list[dict[str, float]]:
        """Like `label_probs`, with each label's centroid taken over labelled pool texts; own[i], the
        index of texts[i] in the pool (or None), is left out of its centroid, so an item never votes
        for itself. A label with no pool text gets probability 0."""
        queries, pool = self.encode(texts), self.encode(pool_texts)
        onehot = torch.tensor([[float(p == l) for l in labels] for p in pool_labels]).reshape(
            len(pool_labels), len(labels)
        )
        sums, counts = onehot.T @ pool, onehot.sum(0)  # (labels, dim), (labels,)
        out = []
        for i, query in enumerate(queries):
            item_sums, item_counts = sums.clone(), counts.clone()
            if own is not None and own[i] is not None:
                item_sums -= onehot[own[i], :, None] * pool[own[i]]
                item_counts -= onehot[own[i]]
            centroids = torch.nn.functional.normalize(item_sums, dim=-1)
            logits = (centroids @ query / temperature).masked_fill(item_counts == 0, float("-inf"))
            out.append(dict(zip(labels, torch.softmax(logits, -1).tolist())))
        return out
