"""The stage contract: a fingerprint that follows the contents of outside files a stage reads, and a
clear error when a stage's declared inputs are missing."""

from __future__ import annotations

import pytest

from p2m import Pipeline, RunConfig
from p2m.errors import P2MError
from p2m.stages.base import RunContext
from p2m.stages.retrieve import Retrieve
from p2m.stages.train import Train
from p2m.teacher.calls import CallCache, Teacher
from p2m.testing.fakes import FakeBackend


def test_an_edited_dataset_file_changes_the_retrieve_fingerprint(tmp_path):
    data = tmp_path / "reviews.jsonl"
    data.write_text('{"text": "great", "label": "positive"}\n')
    teacher = Teacher(FakeBackend(), CallCache(tmp_path / "cache.sqlite"))
    ctx = RunContext(tmp_path / "run", RunConfig(task="Classify reviews", datasets=[str(data)]), teacher)
    before = Retrieve().fingerprint(ctx, upstream="")
    assert Retrieve().fingerprint(ctx, upstream="") == before  # stable while nothing changes
    data.write_text('{"text": "awful", "label": "negative"}\n')
    assert Retrieve().fingerprint(ctx, upstream="") != before


def test_a_stage_whose_inputs_are_missing_says_so(tmp_path):
    pipeline = Pipeline(
        RunConfig(task="Classify reviews as good or bad", out=str(tmp_path / "run"), teacher="smollm2-135m"),
        stages=[Train()],
    )
    with pytest.raises(P2MError, match="the train stage needs spec.json, student.json, data/train.jsonl"):
        pipeline.run()
