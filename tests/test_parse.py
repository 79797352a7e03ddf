"""Parse: schema validation with repair retries (fake backend), and the real embedded teacher."""

import json
from pathlib import Path

from p2m.config import RunConfig
from p2m.spec import TaskSpec
from p2m.stages.parse import describe_labels, parse_task
from p2m.stages.synthesize import list_subjects
from p2m.task_text import heuristic_spec
from p2m.teacher.calls import CallCache, Teacher
from p2m.teacher.choice import build_teacher
from p2m.testing.fakes import FakeBackend

CORPUS = [json.loads(line) for line in (Path(__file__).parent / "data" / "parse_corpus.jsonl").read_text().splitlines()]

GOOD = {
    "instruction": "Classify emails",
    "task_type": "classification",
    "labels": ["billing", "bug"],
    "input_description": "an email",
    "output_format": "a label",
    "examples": [],
}


def test_bad_json_is_repaired_on_retry(tmp_path):
    backend = FakeBackend(replies=["Sure! {not json", "```json\n" + json.dumps(GOOD) + "\n```"])
    spec, warnings = parse_task(Teacher(backend, CallCache(tmp_path / "c.sqlite")), "Sort my support emails")
    assert spec.labels == ["billing", "bug"] and spec.input_description == "an email"
    assert backend.calls == 2 and warnings == []


def test_unusable_teacher_falls_back_to_the_text_with_a_warning(tmp_path):
    backend = FakeBackend(replies=["nonsense"] * 3)
    spec, warnings = parse_task(Teacher(backend, CallCache(tmp_path / "c.sqlite")), "Classify reviews as good or bad")
    assert spec.task_type == "classification" and spec.labels == ["good", "bad"]
    assert "deterministic reading" in warnings[0]


def test_explicit_labels_beat_the_teachers_and_user_examples_join(tmp_path):
    teacher = Teacher(FakeBackend(replies=[json.dumps(GOOD)]), CallCache(tmp_path / "c.sqlite"))
    spec, _ = parse_task(
        teacher, "Classify emails.\nLabels: billing, bug, other", [{"input": "refund please", "output": "billing"}]
    )
    assert spec.labels == ["billing", "bug", "other"]
    assert [e.input for e in spec.examples] == ["refund please"]


def test_real_small_teacher_gives_a_valid_spec():
    teacher = build_teacher(RunConfig(task="x", teacher="smollm2-135m"))
    spec, _ = parse_task(teacher, "Classify movie reviews as positive or negative")
    assert spec.task_type == "classification" and set(spec.labels) == {"positive", "negative"}
    descriptions, _ = describe_labels(teacher, spec)  # it copies the prompt's email example: sent back, else none
    assert "email" not in " ".join(descriptions.values()).lower() and len(set(descriptions.values())) == len(
        descriptions
    )


def reads_right(spec: dict, case: dict) -> bool:
    labels = sorted(label.lower() for label in spec.get("labels") or [])
    return spec.get("task_type") == case["task_type"] and labels == sorted(label.lower() for label in case["labels"])


def test_the_text_alone_reads_nine_in_ten_of_the_task_corpus():
    """Varied ways people name their labels (tests/data/parse_corpus.jsonl, written for p2m)."""
    wrong = [case["task"] for case in CORPUS if not reads_right(heuristic_spec(case["task"]), case)]
    assert len(CORPUS) >= 40 and len(wrong) <= 0.1 * len(CORPUS), wrong


def test_examples_the_teacher_made_up_are_dropped(tmp_path):
    made_up = {
        **GOOD,
        "examples": [{"input": "The invoice is wrong", "output": "billing"}, {"input": "App crashes", "output": "bug"}],
    }
    teacher = Teacher(FakeBackend(replies=[json.dumps(made_up)]), CallCache(tmp_path / "c.sqlite"))
    spec, warnings = parse_task(teacher, "Classify emails as billing or bug, e.g. 'App crashes' is a bug")
    assert [e.input for e in spec.examples] == ["App crashes"] and any("dropped 1 example" in w for w in warnings)


def test_a_teacher_that_disagrees_with_the_text_is_named_in_a_warning(tmp_path):
    teacher = Teacher(
        FakeBackend(replies=[json.dumps({**GOOD, "labels": ["happy", "sad"]})]), CallCache(tmp_path / "c.sqlite")
    )
    spec, warnings = parse_task(teacher, "Classify emails as billing or bug")
    assert spec.labels == ["billing", "bug"] and any("used the text's labels" in w for w in warnings)


def test_extraction_whose_answers_are_not_copied_from_the_inputs_is_read_as_generation(tmp_path):
    reading = {**GOOD, "task_type": "extraction", "labels": []}
    teacher = Teacher(FakeBackend(replies=[json.dumps(reading)] * 2), CallCache(tmp_path / "c.sqlite"))
    dates = [{"input": "[Posted: 2014-05-02] We met on Tuesday.", "output": "Tuesday == 2014-04-29"}]
    spec, warnings = parse_task(teacher, "Find the time expressions and resolve each to a date", dates)
    assert spec.task_type == "generation" and any("not copied from their inputs" in w for w in warnings)
    spans = [{"input": "Context: Curie won in 1903. Question: When?", "output": "1903"}]
    assert parse_task(teacher, "Answer with a span of the passage", spans)[0].task_type == "extraction"


def test_pathological_task_texts_are_read_without_backtracking_blowups():
    # each took seconds to minutes with nested quantifiers over runs of spaces or newlines (issue 20); now a
    # single pass: no timing asserted here (a shared CPU varies), the call simply returns
    for text in (
        "Classify" + " " * 3000 + "x",
        "Classify" + " " * 800,
        "Classify\n" + "\n" * 32000,
        "as " + "a, " * 5000,
    ):
        assert isinstance(heuristic_spec(text), dict)


def test_label_descriptions_are_repaired_on_retry_and_missing_ones_leave_a_warning(tmp_path):
    spec = TaskSpec("Classify questions by answer type", "classification", ["human", "number"], "a question")
    backend = FakeBackend(
        replies=[
            '{"human": "a person or group"}',
            '{"human": "a person or group", "number": "a count, date or amount"}',
        ]
    )
    descriptions, warnings = describe_labels(Teacher(backend, CallCache(tmp_path / "c.sqlite")), spec)
    assert descriptions == {"human": "a person or group", "number": "a count, date or amount"} and warnings == []
    assert backend.calls == 2  # the first answer lacked "number" and was sent back with that error
    descriptions, warnings = describe_labels(
        Teacher(FakeBackend(replies=["no"] * 3), CallCache(tmp_path / "d.sqlite")), spec
    )
    assert descriptions == {} and "labels are used by name alone" in warnings[0]


def test_label_descriptions_that_copy_the_prompt_or_repeat_each_other_are_sent_back(tmp_path):
    spec = TaskSpec("Classify reviews", "classification", ["good", "bad"], "a review")
    copied = "An email about a charge, invoice, refund or payment, e.g. 'I was charged twice this month.'"
    backend = FakeBackend(
        replies=[
            json.dumps({"good": copied, "bad": "A review that dislikes"}),
            '{"good": "A review of a film", "bad": "A review of a film"}',
            '{"good": "A review that likes", "bad": "A review that dislikes"}',
        ]
    )
    descriptions, warnings = describe_labels(Teacher(backend, CallCache(tmp_path / "c.sqlite")), spec)
    assert descriptions == {"good": "A review that likes", "bad": "A review that dislikes"} and warnings == []
    assert backend.calls == 3


def test_subjects_are_distinct_and_a_useless_list_means_none(tmp_path):
    spec = TaskSpec("Classify questions by answer type", "classification", ["human", "number"], "a question")
    backend = FakeBackend(
        replies=[
            '{"subjects": ["jazz", "Jazz "]}',
            '{"subjects": ["jazz", "Jazz", "Roman  emperors", "tides", "chess"]}',
        ]
    )
    assert list_subjects(Teacher(backend, CallCache(tmp_path / "c.sqlite")), spec, "human", 3) == [
        "jazz",
        "Roman emperors",
        "tides",
    ]
    assert backend.calls == 2  # one distinct subject was sent back for more
    assert (
        list_subjects(Teacher(FakeBackend(replies=["none"] * 3), CallCache(tmp_path / "d.sqlite")), spec, "human", 3)
        == []
    )
