"""Label-free weighting of weak verifiers: the Dawid-Skene label model.

Each verifier votes a label (or abstains). Expectation-maximization estimates, with no gold labels,
each verifier's confusion matrix (how often it says b when the truth is a) and the class priors; the
posterior over the true label then weighs each verifier by how reliable the data says it is, rather
than equally. Dawid & Skene (1979); the weak-supervision label models of Snorkel and Weaver build on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LabelModel:
    posteriors: np.ndarray  # (items, classes)
    confusions: np.ndarray  # (verifiers, true class, voted class)
    priors: np.ndarray  # (classes,)

    def accuracies(self) -> list[float]:
        """Each verifier's estimated accuracy: P(vote == truth), averaged over the class priors."""
        return [float((self.priors * np.diag(c)).sum()) for c in self.confusions]


def fit(votes: list[list[int | None]], n_classes: int, iterations: int = 100, smoothing: float = 0.01) -> LabelModel:
    """votes[i][j]: the class index verifier j gives item i, or None when it abstains."""
    n_items, n_verifiers = len(votes), len(votes[0]) if votes else 0
    onehot = np.zeros((n_items, n_verifiers, n_classes))
    for i, row in enumerate(votes):
        for j, vote in enumerate(row):
            if vote is not None:
                onehot[i, j, vote] = 1.0
    posteriors = onehot.sum(axis=1) + smoothing  # start from the (smoothed) vote counts
    posteriors /= posteriors.sum(axis=1, keepdims=True)
    for _ in range(iterations):
        priors = posteriors.mean(axis=0)
        confusions = np.einsum("ic,ijk->jck", posteriors, onehot) + smoothing
        confusions /= confusions.sum(axis=2, keepdims=True)
        log_post = np.log(priors)[None, :] + np.einsum("ijk,jck->ic", onehot, np.log(confusions))
        updated = np.exp(log_post - log_post.max(axis=1, keepdims=True))
        updated /= updated.sum(axis=1, keepdims=True)
        if np.abs(updated - posteriors).max() < 1e-6:
            posteriors = updated
            break
        posteriors = updated
    return LabelModel(posteriors=posteriors, confusions=confusions, priors=posteriors.mean(axis=0))


def agreement_matrix(votes: list[list[int | None]], names: list[str]) -> dict[str, dict[str, float]]:
    """How often each pair of verifiers votes the same label, over the items both vote on."""
    matrix: dict[str, dict[str, float]] = {}
    for a, name_a in enumerate(names):
        matrix[name_a] = {}
        for b, name_b in enumerate(names):
            both = [(row[a], row[b]) for row in votes if row[a] is not None and row[b] is not None]
            matrix[name_a][name_b] = round(sum(x == y for x, y in both) / len(both), 3) if both else None
    return matrix
