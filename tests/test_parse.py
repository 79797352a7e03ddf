"""Parse: schema validation with repair retries (fake backend), and the real embedded teacher."""

import json

from fakes import FakeBackend
from p2m.llm import CallCache, Teacher
from p2m.pipeline import build_teacher
from p2m.config import RunConfig
from p2m.stages.parse import parse_task

GOOD = {"instruction": "Classify emails", "task_type": "classification", "labels": ["billing", "bug"],
        "input_description": "an email", "output_format": "a label", "examples": []}


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
    spec, _ = parse_task(teacher, "Classify emails.\nLabels: billing, bug, other",
                         [{"input": "refund please", "output": "billing"}])
    assert spec.labels == ["billing", "bug", "other"]
    assert [e.input for e in spec.examples] == ["refund please"]


def test_real_embedded_teacher_gives_a_valid_spec():
    spec, _ = parse_task(build_teacher(RunConfig(task="x", teacher="embedded")), "Classify movie reviews as positive or negative")
    assert spec.task_type == "classification" and set(spec.labels) == {"positive", "negative"}
