"""Label-free weighting of weak verifiers: the Dawid-Skene label model, and a weighted pool on top.

Each verifier votes a label (or abstains). Expectation-maximization estimates, with no gold labels,
each verifier's confusion matrix (how often it says b when the truth is a) and the class priors; the
posterior over the true label then weighs each verifier by how reliable the data says it is, rather
than equally. Dawid & Skene (1979); the weak-supervision label models of Snorkel and Weaver build on it.

`weighted_pool` then combines the verifiers' full distributions (not just their votes), each raised
to a weight from its estimated accuracy: the log-odds weight of a weighted majority vote,
log(acc * (K - 1) / (1 - acc)), which is 0 at chance and grows as the verifier gets reliable.

Dawid-Skene assumes verifiers err independently given the truth. Two verifiers built on the same model
(MiniLM similarity to label names and to a labelled pool) err together, agree with each other, and the
fit reads their agreement as accuracy (tests/test_verifier_logic.py shows it on simulated verifiers).
So verifiers carry a group (the model behind them), and each verifier's accuracy is estimated by a fit
on it and one witness per *other* group: a sibling never vouches for it, and no group counts twice.
A verifier learnt from the others' pooled labels (the keyword rules) is in the DERIVED group: it is
witnessed by the groups it learnt from but witnesses none of them, since its votes echo theirs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DERIVED = "derived"  # the group of verifiers learnt from the other verifiers' labels


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


def hard_votes(distributions: list[list[dict[str, float]]], labels: list[str], margin: float) -> list[list[int | None]]:
    """votes[i][j]: verifier j's top label index for item i, or None (abstain) when its top two
    probabilities are closer than `margin` -- an unsure verifier adds noise, not evidence."""

    def vote(dist: dict[str, float]) -> int | None:
        ranked = sorted(dist.values(), reverse=True)
        return (
            None
            if ranked[0] - (ranked[1] if len(ranked) > 1 else 0.0) < margin
            else labels.index(max(dist, key=dist.get))
        )

    return [[vote(dists[i]) for dists in distributions] for i in range(len(distributions[0]))]


def estimated_accuracies(votes: list[list[int | None]], n_classes: int, groups: list[str]) -> list[float]:
    """Each verifier's accuracy from a Dawid-Skene fit on it and one witness per other group (its
    members' most common vote), so neither its siblings nor another group's copies count twice; the
    DERIVED group witnesses no one."""
    if len(set(groups)) == len(groups) and DERIVED not in groups:
        return fit(votes, n_classes).accuracies()

    def group_vote(row: list[int | None], group: str) -> int | None:
        said = [v for v, g in zip(row, groups) if g == group and v is not None]
        return max(said, key=said.count) if said else None

    accuracies = []
    for j, own in enumerate(groups):
        others = sorted(set(groups) - {own, DERIVED})
        accuracies.append(
            fit([[row[j]] + [group_vote(row, g) for g in others] for row in votes], n_classes).accuracies()[0]
        )
    return accuracies


def weighted_pool(
    sources: dict[str, list[dict[str, float]]],
    labels: list[str],
    margin: float = 0.1,
    groups: dict[str, str] | None = None,
) -> tuple[list[dict[str, float]], dict[str, float], list[list[int | None]]]:
    """Posterior per item from a product of the verifiers' distributions, each to the power of its
    log-odds weight; returns (posteriors, estimated accuracy per verifier, the votes it was fit on).
    groups: verifier name -> the model behind it (a verifier not named is its own group)."""
    names = list(sources)
    votes = hard_votes([sources[n] for n in names], labels, margin)
    accuracies = estimated_accuracies(votes, len(labels), [(groups or {}).get(n, n) for n in names])
    chance = 1 / len(labels)
    weights = [max(math.log(max(a, 1e-3) / max(1 - a, 1e-3) / (chance / (1 - chance))), 0.0) for a in accuracies]
    if not any(weights):  # no verifier looks better than chance: fall back to the plain product
        weights = [1.0] * len(names)
    log_probs = sum(
        w * np.log(np.array([[d[l] for l in labels] for d in sources[n]]) + 1e-4) for w, n in zip(weights, names)
    )
    pooled = np.exp(log_probs - log_probs.max(axis=1, keepdims=True))
    pooled /= pooled.sum(axis=1, keepdims=True)
    posteriors = [dict(zip(labels, row.tolist())) for row in pooled]
    return posteriors, dict(zip(names, accuracies)), votes


def agreement_matrix(votes: list[list[int | None]], names: list[str]) -> dict[str, dict[str, float]]:
    """How often each pair of verifiers votes the same label, over the items both vote on."""
    matrix: dict[str, dict[str, float]] = {}
    for a, name_a in enumerate(names):
        matrix[name_a] = {}
        for b, name_b in enumerate(names):
            both = [(row[a], row[b]) for row in votes if row[a] is not None and row[b] is not None]
            matrix[name_a][name_b] = round(sum(x == y for x, y in both) / len(both), 3) if both else None
    return matrix
