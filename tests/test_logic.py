"""Pure logic: spec reading, verifiers, dedup and leakage guard, metrics."""

import pytest

from p2m import metrics
from p2m.dedup import dedupe, overlap
from p2m.errors import P2MError
from p2m.spec import SpecError, TaskSpec
from p2m.stages.synthesize import clean_generated
from p2m.task_text import heuristic_spec
from p2m.tasks import kind_of
from p2m.verifiers.signals import (
    aggregate,
    agreement,
    calibrate,
    degenerate,
    format_score,
    label_from_reply,
    label_probs_from_logprobs,
    shape,
)


@pytest.mark.parametrize(
    "task, expected",
    [
        (
            "Classify movie reviews as positive or negative",
            {"task_type": "classification", "labels": ["positive", "negative"], "input_description": "movie reviews"},
        ),
        (
            "Classify customer emails into billing, bug, feature request; here are 3 examples",
            {"labels": ["billing", "bug", "feature request"]},
        ),
        (
            "Tag tickets.\nLabels: billing, bug, other\nInput: I was charged twice\nOutput: billing",
            {
                "task_type": "classification",
                "labels": ["billing", "bug", "other"],
                "examples": [{"input": "I was charged twice", "output": "billing"}],
            },
        ),
        (
            "Convert dates like 'March 3, 2021' to ISO format 2021-03-03",
            {
                "task_type": "generation",
                "input_description": "dates",
                "examples": [{"input": "March 3, 2021", "output": "2021-03-03"}],
            },
        ),
        ("Solve grade school math word problems", {"task_type": "math"}),
    ],
)
def test_heuristic_spec_reads_obvious_shapes(task, expected):
    spec = heuristic_spec(task)
    assert {k: spec.get(k) for k in expected} == expected


@pytest.mark.parametrize(
    "data, message",
    [
        ({"instruction": "", "task_type": "generation"}, "instruction"),
        ({"instruction": "x", "task_type": "poetry"}, "task_type"),
        ({"instruction": "x", "task_type": "classification", "labels": ["a"]}, "two"),
        (
            {
                "instruction": "x",
                "task_type": "classification",
                "labels": ["a", "b"],
                "examples": [{"input": "i", "output": "c"}],
            },
            "not in",
        ),
        ([1, 2], "object"),
    ],
)
def test_spec_validation_names_the_bad_field(data, message):
    with pytest.raises(SpecError, match=message):
        TaskSpec.from_dict(data)


def test_label_from_reply():
    labels = ["positive", "negative", "feature request"]
    assert label_from_reply("Negative.", labels) == "negative"
    assert label_from_reply("I think it is a feature request, not a bug", labels) == "feature request"
    assert label_from_reply("This review is positive, not negative", labels) == "positive"
    assert label_from_reply("no idea", labels) is None


def test_label_probs_from_first_token_logprobs():
    probs = label_probs_from_logprobs([{"Pos": -0.1, " negative": -2.0, "The": -0.5}], ["positive", "negative"])
    assert probs["positive"] > 0.8 and pytest.approx(sum(probs.values())) == 1
    assert label_probs_from_logprobs([{"The": -0.1}], ["positive", "negative"]) is None


def test_calibration_removes_a_constant_label_prior():
    skewed = [{"a": 0.9, "b": 0.1}, {"a": 0.7, "b": 0.3}]
    calibrated = calibrate(skewed)
    assert calibrated[0]["a"] > 0.5 and calibrated[1]["b"] > 0.5  # relative evidence survives, prior goes


def test_aggregate_weights():
    assert aggregate({"x": 1.0, "y": 0.0}) == 0.5
    assert aggregate({"x": 1.0, "y": 0.0}, {"y": 3.0}) == 0.25


def test_format_score_and_shape():
    examples = [("March 3, 2021", "2021-03-03")]
    assert shape("2021-03-03") == "9-9-9"
    assert format_score("2019-06-12", "June 12, 2019", examples) == 1.0
    assert format_score("June 12, 2019", "June 12, 2019", examples) == 0.0  # echo of the input
    assert format_score("2021-03-03", "So there.", examples) == 0.0  # copy of the example's output
    assert (
        format_score("N/A", "So there.", examples + [("Nothing happened.", "N/A")]) == 1.0
    )  # an answer not about its input
    assert 0 < format_score("12 June 2019", "June 12, 2019", examples) < 1


def test_self_consistency_and_degenerate():
    assert agreement("2021-03-03", ["2021-03-03 ", "2021-03-04"]) == 0.5
    assert degenerate("Write only the movie reviews:")
    assert degenerate("") and degenerate("ok", min_words=2)
    assert degenerate("good good good good good good good")
    assert not degenerate("A warm and funny film.")


def test_clean_generated_strips_preamble_and_quotes():
    assert clean_generated('Here is a review:\n"Great film, loved it."') == "Great film, loved it."
    assert clean_generated("Review: Dull.\n\nLabel: negative") == "Dull."
    assert (
        clean_generated("Great cast. Sharp script! And the ending was", cut_short=True) == "Great cast. Sharp script!"
    )
    assert clean_generated("Great cast and the ending was", cut_short=True) == "Great cast and the ending was"


def test_dedupe_drops_near_duplicates_and_user_example_leaks():
    texts = ["The film was great fun.", "The film was great fun!", "A slow, dull film.", "I was charged twice"]
    assert dedupe(texts, exclude=["i was charged twice."]) == [0, 2]
    from p2m.stages.passages import distinct_inputs

    spec = TaskSpec.from_dict(
        {"instruction": "Classify reviews", "task_type": "classification", "labels": ["good", "bad"]}
    )
    assert distinct_inputs(spec, texts, ["i was charged twice."]) == [0, 2]
    assert distinct_inputs(spec, texts, ["i was charged twice."], near_duplicates=False) == [
        0,
        1,
        2,
    ]  # --no-dedup: leaks still go


def test_metrics_known_cases():
    labels = ["a", "b"]
    assert metrics.macro_f1(["a", "a", "b", "b"], ["a", "b", "b", "b"], labels) == pytest.approx(
        (2 / 3 + 0.8) / 2, abs=1e-4
    )
    scores = kind_of("classification").score(["a", "b"], ["a", "a"], labels)
    assert scores["accuracy"] == 0.5 and scores["n"] == 2
    assert scores["per_class"]["a"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3, abs=1e-4),
        "support": 2,
    }
    assert scores["per_class"]["b"]["support"] == 0 and metrics.headline(scores).startswith("accuracy 0.500")
    text = kind_of("generation").score(["2021-03-03", "x"], ["2021-03-03", "2021-01-01"], [])
    assert text["exact_match"] == 0.5 and text["chrf"] == pytest.approx(0.5, abs=0.01)
    assert metrics.main_metric(text) == "chrf" and "json_valid" not in text


def test_squad_exact_match_and_f1_follow_the_official_normalization():
    assert metrics.squad_normalize("The  Eiffel Tower!") == "eiffel tower"
    assert metrics.squad_exact_items(["the Eiffel tower", "Paris, France"], ["Eiffel Tower.", "Paris"]) == [1.0, 0.0]
    # "paris france" vs "paris": one common token, precision 1/2, recall 1 -> F1 2/3
    assert metrics.squad_f1_items(["Paris, France", "in 1889", ""], ["Paris", "1887", ""]) == [
        pytest.approx(2 / 3),
        0.0,
        1.0,
    ]
    scores = kind_of("extraction").score(["the Eiffel tower", "Paris, France"], ["Eiffel Tower.", "Paris"], [])
    assert scores["exact_match"] == 0.5 and scores["f1"] == pytest.approx((1 + 2 / 3) / 2, abs=1e-4)
    assert metrics.main_metric(scores) == "exact_match" and metrics.secondary_metric(scores) == "f1"


def test_math_exact_match_compares_extracted_final_numbers():
    predictions = ["She has 3 + 5 = 8 apples. The answer is 8.", "#### 1,000", "about 12 or 13"]
    golds = ["Natalia sold 48/2 = 24 ...\n#### 8", "1000", "12"]
    assert metrics.numeric_exact_items(predictions, golds) == [1.0, 1.0, 0.0]
    assert kind_of("math").score(predictions, golds, [])["exact_match"] == pytest.approx(2 / 3, abs=1e-4)


def test_json_validity_is_reported_when_gold_answers_are_json():
    scores = kind_of("generation").score(
        ['{"city": "Paris"}', "city: Paris"], ['{"city": "Paris"}', '{"city": "Rome"}'], []
    )
    assert scores["json_valid"] == 0.5 and scores["exact_match"] == 0.5


def test_bootstrap_ci_contains_the_mean_and_narrows_with_data():
    small = metrics.bootstrap_ci([1.0, 0.0] * 5)
    large = metrics.bootstrap_ci([1.0, 0.0] * 200)
    assert small[0] <= 0.5 <= small[1] and large[0] <= 0.5 <= large[1]
    assert large[1] - large[0] < small[1] - small[0]


def test_paired_difference():
    result = metrics.paired_difference([1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0])
    assert result["mean"] == 0.5 and result["ci95"][0] <= 0.5 <= result["ci95"][1]


def test_overlap_finds_test_items_that_leak_from_training():
    train = ["The film was great fun.", "A slow, dull film."]
    assert overlap(["the film was great fun!", "Something else entirely.", "A slow dull film"], train) == [0, 2]


def test_retention_is_a_paired_ratio_and_the_verdict_flags_a_student_below_zero_shot():
    retention = metrics.paired_ratio([1, 1, 0, 1], [1, 1, 1, 1])
    assert retention["mean"] == 0.75 and retention["ci95"][0] <= 0.75 <= retention["ci95"][1]
    assert metrics.paired_ratio([1, 0], [0, 0])["mean"] is None  # a teacher at 0 has no ratio
    below = {
        "retention": {"metric": "accuracy", **retention},
        "student_minus_baseline": {"minilm_zero_shot": {"mean": 0.1, "ci95": (-0.02, 0.2)}},
    }
    assert "retention (student / teacher accuracy): 0.75" in metrics.verdict(below) and "WARNING" in metrics.verdict(
        below
    )
    above = {"student_minus_baseline": {"minilm_zero_shot": {"mean": 0.1, "ci95": (0.02, 0.2)}}}
    assert "WARNING" not in metrics.verdict(above)
    described_stronger = {
        "student_minus_baseline": {
            "minilm_zero_shot": {"mean": 0.1, "ci95": (0.02, 0.2)},
            "minilm_zero_shot_described": {"mean": 0.03, "ci95": (-0.01, 0.07)},
        }
    }
    assert "WARNING" in metrics.verdict(described_stronger) and "+0.030" in metrics.verdict(described_stronger)


def test_label_descriptions_are_checked_and_reach_the_teacher_and_generator_prompts():
    from p2m import prompts
    from p2m.stages.synthesize import ANY_INPUT, candidate_requests
    from p2m.teacher.answers import label_requests, teacher_requests

    data = {
        "instruction": "Classify questions by answer type",
        "task_type": "classification",
        "labels": ["human", "number"],
        "label_descriptions": {"human": "  a question  whose answer is a person ", "number": ""},
    }
    spec = TaskSpec.from_dict(data)
    assert spec.label_descriptions == {"human": "a question whose answer is a person"}  # spaces folded, empty dropped
    assert spec.label_texts("human") == ["human", "human: a question whose answer is a person"] and spec.label_texts(
        "number"
    ) == ["number"]
    for bad in ({"robot": "x"}, {"human": 3}, {"human": "x" * 301}, ["human"]):
        with pytest.raises(SpecError):
            TaskSpec.from_dict({**data, "label_descriptions": bad})
    assert TaskSpec.from_dict({**data, "task_type": "generation", "labels": []}).label_descriptions == {}
    glossary = "Labels:\n- human: a question whose answer is a person\n"
    assert glossary in label_requests(spec, ["Who won?"])[0].prefix
    assert glossary in teacher_requests(spec, "Who won?", votes=0)[0].messages[0][1]
    written = [request.messages[-1][1] for _, request in candidate_requests(spec, 2, seed=0)]
    assert '"human" (a question whose answer is a person).' in written[0] and '"number".' in written[1]
    about = [
        request.messages[-1][1]
        for _, request in candidate_requests(spec, 6, seed=0, subjects={"human": ["Roman emperors", "jazz"]})
    ]
    assert (
        "person), about Roman emperors." in about[0]
        and "person), about jazz." in about[2]
        and "about Roman emperors" in about[4]
    )
    assert '"number".' in about[1]  # a label without subjects is written from the label alone
    assert {meta["style"] for meta, _ in candidate_requests(spec, 12, seed=0)} - {""}  # styles drawn per input
    assert {meta["style"] for meta, _ in candidate_requests(spec, 12, seed=0, styled=False)} == {""}  # --no-styles
    text = TaskSpec.from_dict({**data, "task_type": "generation", "labels": [], "label_descriptions": {}})
    about = [
        (meta["subject"], request.messages[-1][1])
        for meta, request in candidate_requests(text, 3, seed=0, subjects={ANY_INPUT: ["tides", "jazz"]})
    ]
    assert [subject for subject, _ in about] == ["tides", "jazz", "tides"] and ", about jazz, different" in about[1][1]
    assert (
        "about" not in candidate_requests(text, 1, seed=0)[0][1].messages[-1][1]
    )  # no subjects listed: none asked for
    math = TaskSpec.from_dict({**data, "task_type": "math", "labels": [], "label_descriptions": {}})
    problems = candidate_requests(math, 12, seed=0)
    assert {meta["style"] for meta, _ in problems} <= set(
        prompts.lines("math_styles")
    )  # steps and quantities, nothing "ambiguous"
    assert "single number" in problems[0][1].messages[0][1]
    plain = TaskSpec.from_dict({**data, "label_descriptions": {}})
    assert "Labels:" not in label_requests(plain, ["Who won?"])[0].prefix  # no descriptions: the prompts as before


def test_inputs_that_echo_their_generation_prompt_are_found():
    from p2m.dedup import repeats_words
    from p2m.stages.synthesize import generation_prompt

    spec = TaskSpec.from_dict(
        {
            "instruction": "Classify the intent of a voice assistant request",
            "task_type": "classification",
            "labels": ["play music", "get weather"],
            "input_description": "voice assistant request",
            "label_descriptions": {"play music": "A request to play music, e.g. 'Play Imagine by John Lennon.'"},
        }
    )
    prompt = generation_prompt(spec, "play music")
    for echo in (
        "Add only, no preamble and no label",
        'Add that is clearly "play music" to my list',
        "Write one new voice assistant request about jazz",
    ):
        assert repeats_words(echo, prompt), echo
    for real in ("play some jazz by miles davis", "will it rain in paris tomorrow", "play music from the sixties"):
        assert not repeats_words(real, prompt), real


def test_the_head_fit_keeps_its_prior_without_data_and_separates_labelled_points():
    import torch

    from p2m.stages.train import classifier_targets
    from p2m.student.classifier import fit_head

    prior = 20 * torch.eye(2, 3)
    weight, bias = fit_head(torch.empty(0, 3), torch.empty(0, 2), prior)
    assert torch.allclose(weight, prior) and torch.allclose(bias, torch.zeros(2))  # no rows: the zero-shot classifier
    x = torch.nn.functional.normalize(torch.randn(60, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    y = (x[:, 2] > 0).long()
    weight, bias = fit_head(x, torch.nn.functional.one_hot(y, 2).float(), prior=None, c=100)
    assert ((x @ weight.T + bias).argmax(1) == y).float().mean() >= 0.95
    spec = TaskSpec("t", "classification", ["a", "b"])
    rows = [{"output": "a", "teacher_distribution": {"a": 0.2, "b": 0.8}}]
    assert classifier_targets(spec, rows, "sft", 0.5).tolist() == [[1.0, 0.0]]
    assert classifier_targets(spec, rows, "soft-kd", 0.5)[0].tolist() == pytest.approx([0.6, 0.4])


def test_lora_auto_by_size_with_a_lower_bar_for_causal_students():
    from p2m.stages.train import wants_adapters

    assert not wants_adapters("auto", 134_500_000, "CAUSAL_LM")  # SmolLM2-135M: fine-tuned whole
    assert wants_adapters("auto", 494_000_000, "CAUSAL_LM")  # Qwen2.5-0.5B: through LoRA
    assert not wants_adapters("auto", 494_000_000, "QUESTION_ANS")  # encoders: LoRA only over 1B
    assert wants_adapters("auto", 1_500_000_000, "FEATURE_EXTRACTION")
    assert wants_adapters("on", 22_700_000, "FEATURE_EXTRACTION") and wants_adapters("qlora", 1, "CAUSAL_LM")
    assert not wants_adapters("off", 1_500_000_000, "CAUSAL_LM")


def test_classifier_schedule_by_encoder_size_and_user_choices():
    from p2m.stages.train import classifier_schedule

    assert classifier_schedule(77, 22_700_000) == (10, 1e-4)  # MiniLM: many passes, large step
    assert classifier_schedule(77, 109_500_000) == (6, 5e-5)  # MPNet: fewer passes, smaller step
    assert classifier_schedule(500, 109_500_000) == (4, 5e-5)
    assert classifier_schedule(2000, 109_500_000) == (3, 5e-5)
    assert classifier_schedule(77, 109_500_000, epochs=1.5) == (1.5, 5e-5)
    assert classifier_schedule(77, 22_700_000, learning_rate=3e-5) == (10, 3e-5)


def test_estimate_counts_the_requests_each_stage_makes(tmp_path):
    from p2m.config import RunConfig
    from p2m.plan import estimate_spend

    movies = RunConfig(
        task="Classify movie reviews as positive or negative"
    )  # 96 examples, 2 labels; parse, labels described, HyDE, subjects
    assert estimate_spend(movies, None, can_score=True)["calls"] == 5 + 96 + 96 * 2 + 19
    assert (
        estimate_spend(RunConfig(task=movies.task, channel_verifier=True), None, can_score=True)["calls"]
        == 5 + 96 + 96 * 4 + 19
    )
    assert (
        estimate_spend(movies, None, can_score=False)["calls"] == 5 + 96 + 96 * 4
    )  # greedy + 3 votes, re-used by evaluate
    (tmp_path / "reviews.txt").write_text("one\ntwo\nthree\nfour\nfive\n")  # --unlabeled: verified as examples are
    assert (
        estimate_spend(RunConfig(task=movies.task, unlabeled=str(tmp_path / "reviews.txt")), None, can_score=True)[
            "calls"
        ]
        == 5 + 96 + (96 + 5) * 2 + 20
    )
    assert (
        estimate_spend(RunConfig(task=movies.task, subjects_per_label=0), None, can_score=True)["calls"]
        == 3 + 96 + 96 * 2 + 19
    )
    dates = RunConfig(task="Convert dates like 'March 3, 2021' to ISO format 2021-03-03", num_examples=10, votes=1)
    assert (
        estimate_spend(dates, None, can_score=True)["calls"] == 3 + 10 + 2 * 10 * 2
    )  # parse, HyDE, the inputs' subjects
    assert (
        estimate_spend(
            RunConfig(task=dates.task, num_examples=10, votes=1, subjects_per_label=0), None, can_score=True
        )["calls"]
        == 2 + 10 + 2 * 10 * 2
    )


def test_a_user_example_is_never_shown_to_the_teacher_as_its_own_demonstration():
    from p2m.teacher.answers import label_requests, teacher_requests

    spec = TaskSpec.from_dict(
        {
            "instruction": "Tag tickets",
            "task_type": "classification",
            "labels": ["billing", "bug"],
            "examples": [{"input": "charged twice", "output": "billing"}, {"input": "app crashes", "output": "bug"}],
        }
    )
    own = teacher_requests(spec, "charged twice", votes=0)[0].messages
    assert not any("charged twice" in text for _, text in own[:-1]) and "app crashes" in " ".join(
        text for _, text in own
    )
    other = teacher_requests(spec, "refund please", votes=0)[0].messages
    assert "charged twice" in " ".join(text for _, text in other[:-1])  # any other input sees every example
    scored = label_requests(spec, ["charged twice"])[0].prefix
    assert scored.count("charged twice") == 1 and "app crashes" in scored


def test_unlabeled_texts_come_from_lines_or_an_input_column(tmp_path):
    from p2m.config import RunConfig, load_texts

    (tmp_path / "a.txt").write_text("first review\n\n  second review  \n")
    assert load_texts(tmp_path / "a.txt") == ["first review", "second review"]
    (tmp_path / "b.jsonl").write_text('{"text": "one"}\n{"input": "two"}\n')
    assert load_texts(tmp_path / "b.jsonl") == ["one", "two"]
    (tmp_path / "c.csv").write_text("text,label\nthree,x\n")
    assert load_texts(tmp_path / "c.csv") == ["three"]
    (tmp_path / "d.jsonl").write_text('{"review": "no field"}\n')
    with pytest.raises(P2MError, match="needs 'input' or 'text'"):
        load_texts(tmp_path / "d.jsonl")
    (tmp_path / "e.txt").write_text("\n\n")
    with pytest.raises(P2MError, match="holds no texts"):
        load_texts(tmp_path / "e.txt")
    with pytest.raises(P2MError, match="--unlabeled .*no such file"):
        RunConfig(
            task="Classify movie reviews as positive or negative", unlabeled=str(tmp_path / "missing.txt")
        ).check()


def test_recorded_names_the_prompt_files_read_inside_the_block():
    from p2m import prompts

    with prompts.recorded() as outer:
        prompts.chat("judge", instruction="x", input="y", answer="z")
        with prompts.recorded() as inner:
            prompts.lines("styles")
    prompts.fill("channel", instruction="x", label="y")  # outside both blocks
    assert outer == {"judge", "styles"} and inner == {"styles"}
