"""Student retrieval over the registry (BM25 + constraints), offline."""

import pytest

from p2m.errors import P2MError
from p2m.retrieval.students import find_student, rank_students, resolve_student
from p2m.spec import TaskSpec

CLASSIFY = TaskSpec(instruction="Classify movie reviews as positive or negative", task_type="classification", labels=["positive", "negative"])
DATES = TaskSpec(instruction="Convert dates to ISO format", task_type="generation")


def test_auto_picks_the_embedded_student_that_fits_the_task():
    assert resolve_student("auto", CLASSIFY).id == "sentence-transformers/all-MiniLM-L6-v2"
    assert resolve_student("auto", DATES).id == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_ranking_keeps_only_compatible_models_and_explains_itself():
    ranked = rank_students(CLASSIFY, top_k=20)
    assert ranked and all(c.arch == "encoder" for c in ranked)
    assert ranked[0].available and "weights on this machine" in ranked[0].why
    assert "classification" in ranked[0].matched_terms


def test_max_params_filters():
    assert all(c.id != "FacebookAI/xlm-roberta-base" for c in rank_students(CLASSIFY, max_params=200_000_000, top_k=20))


def test_unknown_student_is_a_clear_error():
    with pytest.raises(P2MError, match="unknown student model 'nobody/no-such-model'"):
        find_student("nobody/no-such-model")


def test_wrong_architecture_for_the_task_is_refused():
    with pytest.raises(P2MError, match="kind 'encoder'"):
        resolve_student("HuggingFaceTB/SmolLM2-135M-Instruct", CLASSIFY)


def test_local_directory_is_accepted(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert find_student(str(tmp_path)).available
