"""Real rows from dataset files: loading (files, save_to_disk folders, splits), the teacher's column
mapping validated against the real columns (the fake backend scripts the teacher's replies here; the
embedded teacher maps columns in test_pipeline), conversion, combination and de-duplication."""

import csv
import json

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from p2m.retrieval.dataset_rows import (
    SkipDataset,
    collect,
    guess_mapping,
    load_train_split,
    map_columns,
    validate_mapping,
)
from p2m.spec import TaskSpec
from p2m.teacher.calls import CallCache, Teacher
from p2m.teacher.structured import InvalidAnswer
from p2m.testing.fakes import FakeBackend

SPEC = TaskSpec(
    instruction="Classify movie reviews as positive or negative",
    task_type="classification",
    labels=["positive", "negative"],
)
REVIEWS = [
    ("A triumph of acting.", 1),
    ("Dull and far too long.", 0),
    ("I loved every minute.", 1),
    ("A waste of a good cast.", 0),
]


def fake_teacher(tmp_path, replies) -> tuple[Teacher, FakeBackend]:
    backend = FakeBackend(replies)
    return Teacher(backend, CallCache(tmp_path / "calls.sqlite")), backend


@pytest.fixture
def saved_dataset(tmp_path):
    """A save_to_disk folder with ClassLabel ids and train/test splits, as `datasets` writes it."""
    features = Features({"review": Value("string"), "stars": ClassLabel(names=["neg", "pos"])})
    train = Dataset.from_dict({"review": [r for r, _ in REVIEWS], "stars": [l for _, l in REVIEWS]}, features=features)
    test = Dataset.from_dict({"review": ["Never again."], "stars": [0]}, features=features)
    DatasetDict(train=train, test=test).save_to_disk(tmp_path / "reviews")
    return tmp_path / "reviews"


def test_teacher_mapping_is_validated_and_repaired(tmp_path, saved_dataset):
    dataset = load_train_split(str(saved_dataset), offline=True)
    assert len(dataset) == 4  # the train split; the test split is never read
    teacher, backend = fake_teacher(
        tmp_path,
        [
            '{"input_column": "text", "output_column": "stars"}',  # no such column: sent back with the error
            '{"input_column": "review", "output_column": "stars", "label_map": {"pos": "positive", "neg": "negative"}}',
        ],
    )
    mapping = map_columns(teacher, dataset, SPEC, "reviews")
    assert (mapping.input_column, mapping.output_column, mapping.by) == ("review", "stars", "teacher")
    assert mapping.label_map == {"pos": "positive", "neg": "negative"}
    assert backend.calls == 2


def test_bad_mappings_say_what_is_wrong(saved_dataset):
    dataset = load_train_split(str(saved_dataset), offline=True)
    with pytest.raises(
        InvalidAnswer, match=r"input_column 'text' is not a column; the columns are \['review', 'stars'\]"
    ):
        validate_mapping({"input_column": "text", "output_column": "stars"}, dataset, SPEC)
    with pytest.raises(InvalidAnswer, match="label_map must map the values of 'stars'"):
        validate_mapping(
            {"input_column": "review", "output_column": "stars", "label_map": {"pos": "great"}}, dataset, SPEC
        )


def test_unmappable_dataset_is_skipped_with_the_reason(tmp_path, saved_dataset):
    dataset = load_train_split(str(saved_dataset), offline=True)
    teacher, _ = fake_teacher(tmp_path, ["no idea"] * 3)
    assert guess_mapping(dataset, SPEC) is None  # 'stars' values neg/pos are not the labels
    with pytest.raises(SkipDataset, match=r"could not map its columns \['review', 'stars'\].*no JSON object"):
        map_columns(teacher, dataset, SPEC, "reviews")


def test_local_files_become_training_rows_combined_and_deduplicated(tmp_path):
    with open(tmp_path / "a.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(
            [["Great fun.", "positive"], ["Awful.", "negative"], ["Great fun.", "positive"], ["Meh.", "neutral"]]
        )
    (tmp_path / "b.jsonl").write_text(
        "".join(
            json.dumps({"sentence": s, "label_text": l}) + "\n"
            for s, l in [("great fun.", "positive"), ("Superb.", "POSITIVE")]
        )
    )
    (tmp_path / "empty.jsonl").write_text("")
    DatasetDict(test=Dataset.from_dict({"text": ["x"], "label": ["positive"]})).save_to_disk(tmp_path / "only_test")
    teacher, _ = fake_teacher(tmp_path, ["not json"] * 20)  # the teacher fails: mapping by column names
    sources = [str(tmp_path / n) for n in ("a.csv", "b.jsonl", "empty.jsonl", "only_test", "missing.csv")] + [
        "someone/hub-dataset"
    ]
    log = []
    rows, report = collect(sources, teacher, SPEC, limit=100, offline=True, log=log.append)
    assert [(r["input"], r["output"]) for r in rows] == [
        ("Great fun.", "positive"),
        ("Awful.", "negative"),
        ("Superb.", "positive"),
    ]
    assert rows[0]["source"] == f"dataset:{tmp_path / 'a.csv'}"
    skipped = {r["source"].split("/")[-1]: r["skipped"] for r in report if "skipped" in r}
    assert set(skipped) == {"empty.jsonl", "only_test", "missing.csv", "hub-dataset"}
    assert "p2m never trains on those" in skipped["only_test"]
    assert "the Hub is offline" in skipped["hub-dataset"]
    assert any(line.startswith("datasets: skipped") for line in log)
