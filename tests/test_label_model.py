"""The Dawid-Skene label model on constructed votes with known verifier accuracies."""

import random

import pytest

from p2m.verifiers.label_model import agreement_matrix, fit

TRUE_ACCURACY = [0.9, 0.75, 0.65, 0.55]


def simulated_votes(n_items=3000, n_classes=3, seed=0):
    rng = random.Random(seed)
    truth = [rng.randrange(n_classes) for _ in range(n_items)]
    votes = []
    for t in truth:
        row = []
        for accuracy in TRUE_ACCURACY:
            if rng.random() < 0.1:
                row.append(None)  # abstain
            elif rng.random() < accuracy:
                row.append(t)
            else:
                row.append(rng.choice([c for c in range(n_classes) if c != t]))
        votes.append(row)
    return truth, votes


def test_recovers_verifier_accuracies_without_labels():
    truth, votes = simulated_votes()
    model = fit(votes, n_classes=3)
    for estimated, true in zip(model.accuracies(), TRUE_ACCURACY):
        assert estimated == pytest.approx(true, abs=0.04)


def test_weighted_posterior_beats_every_single_verifier_and_majority():
    truth, votes = simulated_votes()
    model = fit(votes, n_classes=3)
    ensemble = sum(int(p.argmax()) == t for p, t in zip(model.posteriors, truth)) / len(truth)
    best_single = max(sum(row[j] == t for row, t in zip(votes, truth)) / len(truth) for j in range(len(TRUE_ACCURACY)))
    majority = sum(max(range(3), key=lambda c: sum(v == c for v in row)) == t for row, t in zip(votes, truth)) / len(
        truth
    )
    assert ensemble > best_single and ensemble > majority


def test_agreement_matrix_is_symmetric_with_ones_on_the_diagonal():
    _, votes = simulated_votes(n_items=200)
    matrix = agreement_matrix(votes, ["a", "b", "c", "d"])
    assert matrix["a"]["a"] == 1.0 and matrix["a"]["b"] == matrix["b"]["a"]
