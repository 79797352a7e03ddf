"""Pure logic of the verifier ensemble: answer extraction, the judge, keyword rules, the weighted pool."""

import random

import pytest

from p2m.verifiers.keyword_rules import keyword_label_probs, terms
from p2m.verifiers.label_model import DERIVED, hard_votes, weighted_pool
from p2m.verifiers.signals import (
    agreement,
    answer_kind,
    extract_number,
    judge_yes_probability,
    normalize_answer,
    worked_solution,
)


@pytest.mark.parametrize(
    "text, number",
    [
        ("so the total is \\boxed{1,234} dollars", "1234"),
        ("First 3 apples, then 4. The answer is $42.", "42"),
        ("The answer is: 3.50", "3.5"),  # numbers compare as numbers: one spelling per value
        ("She has 3 then 5 more.\n#### 8", "8"),
        ("I count 5 apples and 7.0 pears", "7"),
        ("\\boxed{12} but the answer is 13", "12"),  # boxed wins over later phrasing
        ("no digits here", None),
    ],
)
def test_extract_number_order_boxed_then_phrase_then_hashes_then_last(text, number):
    assert extract_number(text) == number


@pytest.mark.parametrize(
    "a, b", [("10.00", "10"), (".5", "0.5"), ("1e3", "1000"), ("-0", "0"), ("1,000", "1000.0"), ("+7", "7")]
)
def test_numbers_equal_in_value_are_the_same_answer(a, b):
    assert extract_number(a) == extract_number(b)


def test_labels_that_differ_only_in_symbols_stay_apart():
    from p2m.metrics import accuracy_items
    from p2m.spec import unique_labels
    from p2m.verifiers.signals import label_from_reply

    assert accuracy_items(
        ["👎", "c++", "+", "Positive.", "feature request"], ["👍", "c#", "-", "positive", "Feature Request"]
    ) == [0, 0, 0, 1, 1]
    assert label_from_reply("c#", ["c++", "c#"]) == "c#" and label_from_reply("surely c++ here", ["c++", "c#"]) is None
    assert unique_labels(["Positive", "positive.", "👍", "👎"]) == ["Positive", "👍", "👎"]


def test_numeric_self_consistency_compares_final_answers():
    assert agreement(
        "3 + 4 = 7. The answer is 7", ["Adding gives 7.", "#### 7", "It is 8"], kind="number"
    ) == pytest.approx(2 / 3)
    assert normalize_answer("The answer is 1,000", "number") == normalize_answer("#### 1000.0", "number")
    assert answer_kind("Solve grade school math word problems", []) == "number"
    assert answer_kind("Convert dates", [("March 3, 2021", "2021-03-03")]) == "text"
    assert answer_kind("Count the words", [("a b c", "3"), ("a", "1")]) == "number"


def test_a_worked_solution_is_asked_for_with_room_and_scored_for_its_marked_number():
    from p2m.spec import Example, TaskSpec
    from p2m.tasks.math import SOLUTION_TOKENS
    from p2m.teacher.answers import teacher_requests

    spec = TaskSpec(
        instruction="Solve math word problems",
        task_type="math",
        examples=[Example("2 pens at $3?", "2 * 3 = 6. #### 6")],
    )
    greedy, sampled = teacher_requests(spec, "4 pens at $5?", votes=1)
    assert greedy.max_tokens == sampled.max_tokens == SOLUTION_TOKENS  # not the 24-256 characters of a short answer
    assert "#### <number>" in greedy.messages[0][1] and all(
        role != "assistant" for role, _ in greedy.messages
    )  # no one-line shot to copy
    solutions = (
        "4 * 5 = 20.\n#### 20\nAnything after.",
        "4 * 5 = 20. #### 20 pens",
        "4 * 5 = 20, so the answer is 20.\nMore.",
        "4 * 5 = \\(\\boxed{20}\\).",
        "4 * 5 = 20",
        "#### 20",
        "The answer is 20.",
    )
    assert [worked_solution(t) for t in solutions] == [
        "4 * 5 = 20.\n#### 20",
        "4 * 5 = 20. #### 20 pens",
        "4 * 5 = 20, so the answer is 20.\n#### 20",
        "4 * 5 = \\(\\boxed{20}\\).\n#### 20",
        None,
        None,
        None,
    ]


def test_other_solutions_that_reach_the_chosen_number_train_beside_it():
    from p2m.stages.verify import same_number_solutions, with_more_solutions

    target = "3 + 4 = 7. #### 7"
    others = [
        (0.9, "4 + 3 = 7. #### 7"),
        (0.8, "3 + 4 = 8. #### 8"),
        (0.7, "4 + 3 = 7. #### 7"),
        (0.4, "7 in all. #### 7"),
        (0.6, target),
    ]
    more = same_number_solutions(target, others)
    assert more == [
        [0.9, "4 + 3 = 7. #### 7"],
        [0.4, "7 in all. #### 7"],
    ]  # another number, a repeat and the target itself left out
    row = {"id": "syn-1", "input": "3 pens and 4 pens?", "output": target, "score": 0.95, "more_solutions": more}
    train, test = with_more_solutions([dict(row)], [dict(row, id="syn-2")], per_question=4, threshold=0.5)
    assert [(r["id"], r["output"]) for r in train] == [
        ("syn-1", target),
        ("syn-1-path2", "4 + 3 = 7. #### 7"),
    ]  # 0.4 is below the threshold
    assert train[1]["solution_of"] == "syn-1" and "more_solutions" not in train[0]
    assert "more_solutions" not in test[0] and test[0]["output"] == target  # held out: the chosen answer only
    assert with_more_solutions([dict(row)], [], per_question=1, threshold=0)[0] == [
        {k: v for k, v in row.items() if k != "more_solutions"}
    ]


def test_math_learns_marked_solutions_that_reach_the_teachers_majority_number():
    from p2m.spec import TaskSpec

    spec = TaskSpec(instruction="Solve math word problems", task_type="math")

    def learn(answers: list[str]) -> list[str]:
        return spec.kind.learnable_answers(spec, {"input": "2 + 2?"}, answers)

    assert learn(["#### Paris", "2 + 2 = 4. #### 4", "2 and 2 make 4. #### 4", "Paris"]) == [
        "2 + 2 = 4. #### 4",
        "2 and 2 make 4. #### 4",
    ]
    assert (
        learn(["2 + 2 = 4. #### 4", "2 + 2 = 5. #### 5", "2 and 2 make 4. #### 4", "2 and 2 make 5. #### 5"]) == []
    )  # a tie
    assert learn(["2 + 2 = 4. #### 4", "2 + 2 = 5. #### 5", "2 + 2 = 6. #### 6", "Paris"]) == []  # 1 of 4
    assert learn(["2 + 2 = 4. #### 4", "2 + 2 = 5. #### 5", "2 and 2 make 4. #### 4", "4. #### 4"]) == [
        "2 + 2 = 4. #### 4",
        "2 and 2 make 4. #### 4",
        "4. #### 4",
    ]
    assert (
        learn(["2 + 2 = 4. #### 4", "2 + 2 = 4, so 4", "#### 4", "2 + 2 = 5. #### 5"]) == []
    )  # unmarked and bare answers do not vote


def test_judge_probability_from_logprobs_else_text():
    assert judge_yes_probability("Yes", [{" Yes": -0.2, "No": -1.8, "Maybe": -3.0}]) == pytest.approx(0.832, abs=1e-3)
    assert judge_yes_probability("no", []) == 0.0
    assert judge_yes_probability("yes, it is", [{"Sure": -0.1}]) == 1.0  # neither word in the top tokens


def test_keyword_rules_fire_on_confirmed_words_and_leave_each_item_out():
    texts = [f"where is city {i}" for i in range(5)] + [f"how many people {i}" for i in range(5)] + ["where else? many"]
    labels_of_texts = ["location"] * 5 + ["number"] * 5 + [None]
    probs = keyword_label_probs(texts, labels_of_texts, ["location", "number"], min_support=4, min_precision=0.6)
    assert max(probs[0], key=probs[0].get) == "location" and max(probs[6], key=probs[6].get) == "number"
    assert probs[-1]["location"] == pytest.approx(0.5)  # one rule each way: a tie
    # With the item itself left out, 'where' has support 4 of 5; at min_support 5 no rule exists.
    assert keyword_label_probs(texts, labels_of_texts, ["location", "number"], min_support=5)[0] == {
        "location": 0.5,
        "number": 0.5,
    }
    assert "how many" in terms("How many people?")


def simulated_sources(accuracies, n_items=2000, labels=("a", "b", "c"), seed=0):
    """Verifiers that put 0.7 on a label -- the true one with probability acc -- and 0.15 on the others."""
    rng = random.Random(seed)
    truth = [rng.choice(labels) for _ in range(n_items)]
    sources = {}
    for j, accuracy in enumerate(accuracies):
        dists = []
        for t in truth:
            said = t if rng.random() < accuracy else rng.choice([l for l in labels if l != t])
            dists.append({l: 0.7 if l == said else 0.15 for l in labels})
        sources[f"v{j}"] = dists
    return truth, sources


def test_weighted_pool_beats_every_verifier_and_the_naive_mean_and_estimates_accuracies():
    truth, sources = simulated_sources([0.85, 0.7, 0.6, 0.4])
    labels = ["a", "b", "c"]
    posteriors, estimated, _ = weighted_pool(sources, labels, margin=0.1)

    def accuracy(dists):
        return sum(max(d, key=d.get) == t for d, t in zip(dists, truth)) / len(truth)

    naive = [{l: sum(s[i][l] for s in sources.values()) for l in labels} for i in range(len(truth))]
    assert accuracy(posteriors) > max(accuracy(s) for s in sources.values())
    assert accuracy(posteriors) > accuracy(naive)
    for name, true in zip(sources, [0.85, 0.7, 0.6, 0.4]):
        assert estimated[name] == pytest.approx(true, abs=0.05)


def test_unsure_verifiers_abstain():
    dists = [[{"a": 0.52, "b": 0.48}, {"a": 0.9, "b": 0.1}]]
    assert hard_votes(dists, ["a", "b"], margin=0.1) == [[None], [0]]


def test_verifiers_of_one_model_do_not_vouch_for_each_other():
    """Two copies of a 0.45-accurate verifier agree on every item; Dawid-Skene reads that as accuracy
    unless their shared model is declared, after which the independent verifiers are their witnesses."""
    truth, sources = simulated_sources([0.45, 0.75, 0.65])
    sources["copy"] = sources["v0"]
    _, naive_estimates, _ = weighted_pool(sources, ["a", "b", "c"])
    _, estimates, _ = weighted_pool(sources, ["a", "b", "c"], groups={"v0": "minilm", "copy": "minilm"})
    assert naive_estimates["v0"] > 0.6  # inflated by its copy
    for name, true in {"v0": 0.45, "copy": 0.45, "v1": 0.75, "v2": 0.65}.items():
        assert estimates[name] == pytest.approx(true, abs=0.06)


def test_a_verifier_learnt_from_the_others_vouches_for_none_of_them():
    """An echo of the other verifiers' pooled label (as the keyword rules are) agrees with each of them
    by construction; in the DERIVED group it is estimated against them but never their witness."""
    truth, sources = simulated_sources([0.45, 0.75, 0.65])
    pooled, _, _ = weighted_pool(sources, ["a", "b", "c"])
    sources["echo"] = [{l: 0.8 if l == max(p, key=p.get) else 0.1 for l in p} for p in pooled]
    _, naive_estimates, _ = weighted_pool(sources, ["a", "b", "c"])
    _, estimates, _ = weighted_pool(sources, ["a", "b", "c"], groups={"echo": DERIVED})
    assert naive_estimates["v0"] > 0.45 + 0.06  # vouched for by its own echo
    for name, true in {"v0": 0.45, "v1": 0.75, "v2": 0.65}.items():
        assert estimates[name] == pytest.approx(true, abs=0.06)


def test_label_fidelity_keeps_a_row_only_where_the_teacher_reads_its_label_first():
    from p2m.stages.verify import teacher_agrees

    assert teacher_agrees({"output": "human", "teacher_distribution": {"human": 0.5, "entity": 0.3, "number": 0.2}})
    assert not teacher_agrees(
        {"output": "entity", "teacher_distribution": {"human": 0.5, "entity": 0.3, "number": 0.2}}
    )
