"""The whole pipeline on real models: embedded teacher, MiniLM and SmolLM2 training, re-runs and
resume, and the openai backend (llama.cpp server) driving synthesis and verification."""

import json
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM

from p2m import Pipeline, RunConfig, Student
from p2m.embedded import MINILM_ID
from p2m.errors import BudgetExceeded
from p2m.files import read_json, read_jsonl
from p2m.progress import Progress
from p2m.stages.verify import teacher_agrees

MOVIES = "Classify movie reviews as positive or negative"
DATES = "Convert dates like 'March 3, 2021' to ISO format 2021-03-03"
FAST_TEACHER = "smollm2-135m"  # the small GGUF preset through llama.cpp; the Qwen default has its own slow test
FAST_STUDENT = MINILM_ID  # auto picks all-mpnet-base-v2 where installed; the TUI test trains that one


REAL_REVIEWS = [
    ("An absolute delight from start to finish.", "positive"),
    ("Tedious, shallow and badly acted.", "negative"),
    ("The best film I have seen this year.", "positive"),
    ("I walked out after an hour.", "negative"),
]


class RecordingProgress(Progress):
    def __init__(self):
        self.finished = {}

    def stage_finished(self, name, skipped, seconds):
        self.finished[name] = skipped


@pytest.fixture(scope="module")
def movie_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("movies")
    examples = [
        {"input": "A joyless, plodding mess.", "output": "negative"},
        {"input": "Warm, funny and wise.", "output": "positive"},
    ]
    real = out / "real_reviews.jsonl"  # a real local dataset file: its rows join training
    real.write_text("".join(json.dumps({"review": r, "sentiment": s}) + "\n" for r, s in REAL_REVIEWS))
    config = RunConfig(
        task=MOVIES,
        examples=examples,
        num_examples=10,
        votes=1,
        out=str(out / "run"),
        datasets=[str(real)],
        teacher=FAST_TEACHER,
        student=FAST_STUDENT,
    )
    report = Pipeline(config).run()
    return config, out / "run", report


def test_classification_run_writes_every_artifact(movie_run):
    _, out, report = movie_run
    for path in (
        "spec.json",
        "student.json",
        "data/train.jsonl",
        "data/test.jsonl",
        "report.md",
        "report.html",
        "ledger.json",
        "model/config.json",
        "model/README.md",
    ):
        assert (out / path).exists(), path
    html = (out / "report.html").read_text()
    assert (
        "confusion matrix" in html and html.count("<svg") >= 4 and "src=" not in html and "<script" not in html
    )  # self-contained
    for side in ("teacher", "student"):
        assert {"metrics", "params", "latency_ms"} <= set(report[side])
        assert "accuracy" in report[side]["metrics"]["all"]
    assert report["task"] == MOVIES and Pipeline.open(out).spec().labels == report["spec"]["labels"]
    train, test = read_jsonl(out / "data/train.jsonl"), read_jsonl(out / "data/test.jsonl")
    real = [row for row in train if row["source"].startswith("dataset:")]
    assert sorted((r["input"], r["output"]) for r in real) == sorted(REAL_REVIEWS)  # columns mapped by the real teacher
    assert not any(row["source"].startswith("dataset:") for row in test)
    assert train and all("scores" in row for row in train)
    assert all(teacher_agrees(row) for row in train if row["source"] == "synthetic")  # label fidelity
    assert {"A joyless, plodding mess.", "Warm, funny and wise."} <= {row["input"] for row in test}
    assert not {row["input"] for row in train} & {row["input"] for row in test}  # no leakage
    assert report["leakage"]["test_items_near_a_training_input"] == 0
    evaluated = read_jsonl(out / "eval" / "predictions.jsonl")
    student = Student(out / "model")  # the encoder's own dir plus the head's file, as evaluated
    assert student.predict([p["input"] for p in evaluated]) == [p["student"] for p in evaluated]
    inputs = sorted(
        {p["input"] for p in evaluated}, key=len, reverse=True
    )  # batched by length, answered in input order
    assert student.predict(inputs, batch_size=2) == [student.predict([text])[0] for text in inputs]
    padded = student.tokenizer(
        ["Fine.", "A much longer review, which pads the first one out."], padding=True, return_tensors="pt"
    )
    alone = student.tokenizer(["Fine."], return_tensors="pt")
    with torch.no_grad():  # padding does not move the input's positions: its embedding is its own, whatever its batch
        assert torch.allclose(
            student.model.embed(padded["input_ids"], padded["attention_mask"])[0],
            student.model.embed(alone["input_ids"], alone["attention_mask"])[0],
            atol=1e-4,
        )
    assert report["training"]["classifier_tuning"] == "full" and (out / "model" / "classifier.safetensors").exists()
    assert "Classify movie reviews" in (out / "model" / "README.md").read_text()


def test_rerun_makes_zero_teacher_calls_and_skips_every_stage(movie_run):
    config, out, report = movie_run
    progress = RecordingProgress()
    again = Pipeline(config, progress).run()
    assert all(progress.finished.values()) and len(progress.finished) == 7
    assert read_json(out / "ledger.json")["this_invocation"]["calls"] == 0
    assert again == report


def test_changed_option_reruns_only_downstream_stages(movie_run, tmp_path):
    config, out, _ = movie_run
    progress = RecordingProgress()
    Pipeline(RunConfig(**{**config.to_dict(), "epochs": 1}), progress).run()
    assert [name for name, skipped in progress.finished.items() if not skipped] == ["train", "evaluate", "report"]
    assert read_json(out / "ledger.json")["this_invocation"]["calls"] == 0


def test_raising_num_examples_generates_only_the_missing_ones(movie_run, tmp_path):
    import shutil

    config, out, _ = movie_run
    shutil.copytree(out, tmp_path / "run")
    before = read_jsonl(tmp_path / "run" / "data/candidates.jsonl")
    pipeline = Pipeline(RunConfig(**{**config.to_dict(), "num_examples": 12, "out": str(tmp_path / "run")}))
    pipeline.run(until="synthesize")
    after = read_jsonl(tmp_path / "run" / "data/candidates.jsonl")
    assert len(after) == 12 and after[:10] == before
    assert pipeline.teacher.ledger.calls == 2 and pipeline.teacher.ledger.cache_hits >= 10


def test_unlabeled_real_texts_are_labelled_by_the_verifiers_and_trained_on(movie_run, tmp_path):
    """--unlabeled: real SST-2 train texts (labels dropped) join verification as candidates with no intended
    label; the kept ones train, a copy of a user example is dropped; the file's contents are fingerprinted."""
    import shutil

    from conftest import SHARED_DATA

    sst2 = SHARED_DATA / "sst2" / "train.jsonl"
    if not sst2.exists():
        pytest.skip("../shared/data/sst2 is not beside this checkout")
    config, out, _ = movie_run
    shutil.copytree(out, tmp_path / "run")
    texts = [json.loads(line)["text"] for line in sst2.open().readlines()[:8]]
    unlabeled = tmp_path / "unlabeled.txt"
    unlabeled.write_text(
        "\n".join(texts + ["A joyless, plodding mess.", ""]) + "\n"
    )  # a user example's copy, a blank line
    progress = RecordingProgress()
    options = {**config.to_dict(), "out": str(tmp_path / "run"), "unlabeled": str(unlabeled)}
    Pipeline(RunConfig(**options), progress).run()
    assert [name for name, skipped in progress.finished.items() if not skipped] == [
        "verify",
        "train",
        "evaluate",
        "report",
    ]
    summary = read_json(tmp_path / "run" / "data/verify_summary.json")
    assert summary["unlabeled_inputs"] == 9 and summary["kept_unlabeled"] >= 1
    rows = read_jsonl(tmp_path / "run" / "data/train.jsonl") + read_jsonl(tmp_path / "run" / "data/test.jsonl")
    pseudo = [r for r in rows if r["source"] == "unlabeled"]
    assert len(pseudo) == summary["kept_unlabeled"] and {r["input"] for r in pseudo} <= set(texts)
    assert all(r["output"] in ("positive", "negative") and r["intended_label"] is None for r in pseudo)
    rejected = read_jsonl(tmp_path / "run" / "data/rejected.jsonl")
    assert any(r["input"] == "A joyless, plodding mess." and r["source"] == "unlabeled" for r in rejected)
    again = RecordingProgress()
    Pipeline(RunConfig(**options), again).run()
    assert not any(not skipped for skipped in again.finished.values())  # same contents: nothing re-runs
    unlabeled.write_text("\n".join(texts[:4]) + "\n")
    changed = RecordingProgress()
    Pipeline(RunConfig(**options), changed).run()
    assert "verify" in [name for name, skipped in changed.finished.items() if not skipped]


def test_num_examples_zero_needs_real_rows(tmp_path):
    from p2m.errors import P2MError

    with pytest.raises(P2MError, match="--num-examples must be at least 1"):
        RunConfig(task=MOVIES, num_examples=0).check()
    with pytest.raises(P2MError, match="no such file"):
        RunConfig(task=MOVIES, num_examples=0, datasets=[str(tmp_path / "rows.jsonl")]).check()
    (tmp_path / "rows.jsonl").write_text('{"text": "fine", "label": "positive"}\n')
    RunConfig(task=MOVIES, num_examples=0, datasets=[str(tmp_path / "rows.jsonl")]).check()


def test_budget_stop_keeps_work_and_the_next_run_resumes(tmp_path):
    config = RunConfig(
        task=MOVIES, num_examples=6, votes=1, out=str(tmp_path), max_teacher_calls=4, seed=7, teacher=FAST_TEACHER
    )
    with pytest.raises(BudgetExceeded):
        Pipeline(config).run()
    config.max_teacher_calls = None
    pipeline = Pipeline(config)
    pipeline.run(until="synthesize")
    assert pipeline.teacher.ledger.cache_hits >= 4  # the calls made before the stop were not made again
    assert len(read_jsonl(tmp_path / "data/candidates.jsonl")) == 6


def test_generation_run_from_the_cli_trains_smollm2(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "p2m",
            "run",
            DATES,
            "--num-examples",
            "12",
            "--votes",
            "1",
            "--keep-threshold",
            "0.3",
            "--out",
            str(tmp_path),
            "--teacher",
            FAST_TEACHER,
            "--yes",
            "--quiet",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=3600,  # hangs only
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["spec"]["task_type"] == "generation"
    assert "exact_match" in report["student"]["metrics"]["all"] and "chrf" in report["student"]["metrics"]["all"]
    assert report["training"]["steps"] >= 1
    assert (
        set(report["baselines"]) == set(report["student_minus_baseline"]) == {"base_zero_shot"}
    )  # SmolLM2 before distilling
    AutoModelForCausalLM.from_pretrained(tmp_path / "model")
    assert (
        "FutureWarning" not in result.stderr and "Converting and de-quantizing" not in result.stderr
    )  # only p2m's own output

    unexported = subprocess.run(
        [sys.executable, "-m", "p2m", "serve", str(tmp_path), "--gguf"], capture_output=True, text=True, timeout=600
    )
    assert unexported.returncode == 2 and unexported.stderr.strip().endswith(
        "has no GGUF export; run p2m export " + str(tmp_path) + " --format gguf first"
    )
    exported = subprocess.run(
        [sys.executable, "-m", "p2m", "export", str(tmp_path), "--format", "gguf"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert exported.returncode == 0, exported.stderr[-2000:]
    check = json.loads(
        exported.stdout
    )  # llama.cpp (llama-cpp-python) loaded the file and answered every held-out input
    assert check["n"] == report["n_test"] and check["pre_tokenizer"] == "smollm"
    assert check["exact_match_rate"] >= 0.8  # greedy F16 llama.cpp vs greedy f32 torch: rounding may flip a rare token
    assert (tmp_path / "export/gguf/Modelfile").read_text().count("FROM ./model.gguf") == 1
    assert_served_gguf_answers_as_llama_cpp(tmp_path, "June 5, 2020")


def assert_served_gguf_answers_as_llama_cpp(run_dir, text: str) -> None:
    """`p2m serve --gguf`: a real OpenAI client gets the GGUF's own greedy answer, with token counts."""
    import openai

    from p2m.export.gguf import GgufStudent
    from p2m.student.serve import StudentServer

    server = StudentServer.for_run(run_dir, port=0, runtime="gguf").start()
    try:
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
        reply = client.chat.completions.create(model="student", messages=[{"role": "user", "content": text}])
    finally:
        server.stop()
    expected = GgufStudent(
        run_dir / "export/gguf/model.gguf", json.loads((run_dir / "model/p2m.json").read_text())
    ).predict([text])
    assert reply.choices[0].message.content == expected[0]
    assert reply.usage.prompt_tokens > 0


def test_openai_compatible_teacher_drives_synthesis_and_verification(llama_server, tmp_path, p2m_cache, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-p2m-test-KEYmarkerQ7")
    with_password = llama_server.replace("http://", "http://someone:PWmarkerQ7@")
    config = RunConfig(
        task=MOVIES,
        num_examples=6,
        votes=1,
        out=str(tmp_path / "run"),
        teacher_base_url=with_password,
        channel_verifier=True,
        teacher_concurrency=8,
    )
    pipeline = Pipeline(config)
    pipeline.run(until="verify")
    assert pipeline.teacher.identity == "openai:smollm2" and pipeline.teacher.backend.concurrency == 8
    summary = read_json(tmp_path / "run" / "data/verify_summary.json")
    assert summary["candidates"] == 6
    # this server's prompt log-probabilities fail the probe: the teacher verifier reads its votes, and the
    # channel verifier (likelihoods only) is left out rather than fed wrong numbers
    assert (
        not pipeline.teacher.can_score
        and "teacher" in summary["estimated_accuracy"]
        and "channel" not in summary["estimated_accuracy"]
    )
    assert pipeline.teacher.ledger.calls > 0
    run = tmp_path / "run"
    for folder in (run, p2m_cache):  # neither the key nor the URL's password is written anywhere
        for file in (f for f in folder.rglob("*") if f.is_file()):
            assert b"markerQ7" not in file.read_bytes(), file
    assert read_json(run / "config.json")["teacher_base_url"] == llama_server
    assert (run.stat().st_mode & 0o777, (run / "config.json").stat().st_mode & 0o777) == (0o700, 0o600)
    config_file = read_json(run / "config.json")
    (run / "config.json").write_text(json.dumps({**config_file, "teacher_base_url": "http://127.0.0.1:9/v1"}))
    assert Pipeline.open(run).teacher.backend.model == "smollm2"  # a finished run re-opens with its server down


def test_eval_on_a_test_file_matches_labels_case_insensitively(movie_run, tmp_path):
    _, out, _ = movie_run
    test_file = tmp_path / "reviews.jsonl"
    rows = [
        {"text": "An utterly charming film.", "label_text": "Positive"},
        {"text": "Tedious and empty.", "label_text": "NEGATIVE"},
    ]
    test_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = Pipeline.open(out).evaluate(test_file, input_field="text", label_field="label_text")
    assert result["n"] == 2 and "accuracy" in result["student"]["metrics"]["all"]
    assert result["student_minus_teacher"]["metric"] == "accuracy"
    assert result["leakage"]["test_items_near_a_training_input"] == 0
    assert set(result["student"]["metrics"]["all"]["per_class"]) == {"positive", "negative"}
    assert result["teacher_over_student_seconds"] > 0 and result["student"]["seconds_per_1k"] > 0
    golds = [row["gold"] for row in read_jsonl(out / "eval" / "reviews" / "predictions.jsonl")]
    assert golds == ["positive", "negative"]


def test_eval_rejects_labels_the_run_does_not_know(movie_run, tmp_path):
    from p2m.errors import P2MError

    _, out, _ = movie_run
    test_file = tmp_path / "bad.jsonl"
    test_file.write_text(json.dumps({"input": "Fine.", "output": "neutral"}) + "\n")
    with pytest.raises(P2MError, match="'neutral' .* not one of the run's labels"):
        Pipeline.open(out).evaluate(test_file)


def test_eval_cli_on_real_sst2_rows(movie_run):
    from conftest import SHARED_DATA

    sst2 = SHARED_DATA / "sst2" / "test.jsonl"
    if not sst2.exists():
        pytest.skip("../shared/data/sst2 is not beside this checkout")
    _, out, _ = movie_run
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "p2m",
            "eval",
            str(out),
            "--test",
            str(sst2),
            "--label-field",
            "label_text",
            "--limit",
            "12",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["n"] == 12 and {"teacher", "student"} <= set(report)
    teacher = report["teacher"]  # llama.cpp scores text: both readings, the stronger one compared
    assert set(teacher["readings"]) == {"greedy", "likelihood"} and teacher["reading"] in teacher["readings"]
    assert teacher["metrics"]["all"]["accuracy"] == max(r["accuracy"] for r in teacher["readings"].values())
    described = {"minilm_zero_shot_described"} if read_json(out / "spec.json")["label_descriptions"] else set()
    assert (
        set(report["baselines"]) == {"majority", "minilm_zero_shot"} | described
        and report["baselines"]["majority"]["n"] == 12
    )
    student, best = report["student"]["metrics"]["all"]["accuracy"], teacher["metrics"]["all"]["accuracy"]
    # the accuracies are reported rounded to 4 places, the retention from the unrounded ones
    assert report["retention"]["mean"] == (pytest.approx(student / best, abs=2e-4) if best else None)
    assert set(report["student_minus_baseline"]) == {"majority", "minilm_zero_shot"} | described


def test_serve_answers_a_real_openai_client_with_the_student(movie_run):
    import urllib.request

    import openai

    from p2m.student.serve import StudentServer

    _, out, _ = movie_run
    server = StudentServer.for_run(out, port=0).start()
    base_url = server.url
    try:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        model = client.models.list().data[0].id
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "A delightful, moving film."}]
        )
        assert reply.choices[0].message.content in ("positive", "negative")
        assert reply.usage.prompt_tokens > 0
        request = urllib.request.Request(
            f"{base_url}/classify",
            data=json.dumps({"input": ["Awful.", "Lovely."]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        labels = json.loads(urllib.request.urlopen(request, timeout=30).read())["labels"]
        assert len(labels) == 2 and set(labels) <= {"positive", "negative"}
    finally:
        server.stop()


def test_onnx_export_gives_torch_labels_and_is_served(movie_run):
    import urllib.request

    from p2m.student.model import Student
    from p2m.student.serve import StudentServer

    _, out, _ = movie_run
    result = subprocess.run(
        [sys.executable, "-m", "p2m", "export", str(out), "--format", "onnx"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    check = json.loads(result.stdout)
    assert check["n"] == len(read_jsonl(out / "data/test.jsonl")) and check["same_output"] == check["n"]
    assert check["torch_latency_ms"] > 0 and check["onnx_latency_ms"] > 0
    assert "Warning" not in result.stderr and "torchvision" not in result.stderr  # the exporter's chatter stays quiet
    server = StudentServer.for_run(out, port=0, runtime="onnx").start()
    try:
        texts = ["Awful.", "Lovely.", "A long, slow, beautiful film about nothing much."]
        request = urllib.request.Request(
            f"{server.url}/classify",
            data=json.dumps({"input": texts}).encode(),
            headers={"Content-Type": "application/json"},
        )
        labels = json.loads(urllib.request.urlopen(request, timeout=30).read())["labels"]
        assert labels == Student(out / "model").predict(texts)
    finally:
        server.stop()


class InterruptTraining(Progress):
    """Presses Ctrl-C (raises KeyboardInterrupt) after `after` training steps."""

    def __init__(self, after: int):
        self.after, self.training, self.steps = after, False, 0

    def task(self, description, total):
        self.training = description == "training"

    def advance(self, n=1, **info):
        if self.training and n:
            self.steps += n
            if self.steps >= self.after:
                raise KeyboardInterrupt


def test_training_killed_half_way_resumes_from_its_last_checkpoint(movie_run, tmp_path):
    config, _, _ = movie_run
    config = RunConfig(
        **{**config.to_dict(), "out": str(tmp_path), "num_examples": 8, "classifier_tuning": "full"}
    )  # teacher calls cached
    with pytest.raises(KeyboardInterrupt):
        Pipeline(config, InterruptTraining(after=5)).run()
    assert list((tmp_path / "train" / "work").rglob("checkpoint-*"))
    Pipeline(config).run()
    metrics = read_json(tmp_path / "train" / "metrics.json")
    assert metrics["resumed_from"] and int(metrics["resumed_from"].split("-")[1]) >= 2
    assert metrics["steps"] == metrics["epochs"] * -(-metrics["examples"] // 16)  # all planned steps done
    assert not (tmp_path / "train" / "work").exists()


def test_soft_kd_trains_on_the_teachers_label_distribution(movie_run, tmp_path):
    config, out, _ = movie_run
    progress = RecordingProgress()
    report = Pipeline(
        RunConfig(**{**config.to_dict(), "method": "soft-kd", "classifier_tuning": "full"}), progress
    ).run()
    assert [name for name, skipped in progress.finished.items() if not skipped] == ["train", "evaluate", "report"]
    assert report["training"]["method"] == "soft-kd" and report["training"]["train_loss"] > 0
    assert "encoder and head from the fitted probe" in (out / "model" / "README.md").read_text()
    row = read_jsonl(out / "data" / "train.jsonl")[0]
    assert sum(row["teacher_distribution"].values()) == pytest.approx(1, abs=1e-3)


def test_a_head_only_classifier_is_fitted_on_frozen_embeddings(movie_run):
    config, out, _ = movie_run
    progress = RecordingProgress()
    report = Pipeline(
        RunConfig(**{**config.to_dict(), "classifier_tuning": "head", "label_prior": "names"}), progress
    ).run()
    assert [name for name, skipped in progress.finished.items() if not skipped] == ["train", "evaluate", "report"]
    assert report["training"]["classifier_tuning"] == "head" and "steps" not in report["training"]
    assert (
        "a linear head on the frozen encoder's mean-pooled embeddings (pulled toward the label names' embeddings; "
        "the label names' prototypes added to the head x 1.0)"
    ) in (out / "model" / "README.md").read_text()
    evaluated = read_jsonl(out / "eval" / "predictions.jsonl")
    assert Student(out / "model").predict([p["input"] for p in evaluated]) == [p["student"] for p in evaluated]


def test_the_label_names_prototypes_are_added_to_the_trained_head(movie_run):
    """Head only, the encoder stays the base: the head with prototypes minus the head without them is the
    zero-shot classifier's weights, the label names' embeddings; the bias is untouched."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    from p2m.student.classifier import HEAD_FILE, EmbeddingClassifier, label_prototypes
    from p2m.student.kinds import MAX_INPUT_TOKENS

    config, out, _ = movie_run
    heads = {}
    for weight in (0.0, 2.0):
        Pipeline(
            RunConfig(**{**config.to_dict(), "classifier_tuning": "head", "label_prototypes": weight}),
            RecordingProgress(),
        ).run()
        heads[weight] = load_file(str(out / "model" / HEAD_FILE))
    labels = read_json(out / "spec.json")["labels"]
    model = EmbeddingClassifier(AutoModel.from_pretrained(str(out / "model")), len(labels))
    prototypes = label_prototypes(model, AutoTokenizer.from_pretrained(str(out / "model")), labels, MAX_INPUT_TOKENS)
    assert torch.allclose(heads[2.0]["weight"] - heads[0.0]["weight"], 2.0 * prototypes, atol=1e-4)
    assert torch.equal(heads[2.0]["bias"], heads[0.0]["bias"])


def test_a_weight_ensemble_of_zero_is_the_base_encoders_zero_shot_classifier(movie_run):
    """--weight-ensemble 0 keeps none of the trained weights: the saved student is the base encoder with
    the label names' embeddings as its head, whatever the fine-tuning did; the report says so."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    from p2m.embedded import resolve_model
    from p2m.student.classifier import HEAD_FILE, EmbeddingClassifier, label_prototypes
    from p2m.student.kinds import MAX_INPUT_TOKENS

    config, out, _ = movie_run
    Pipeline(
        RunConfig(**{**config.to_dict(), "classifier_tuning": "full", "weight_ensemble": 0.0}), RecordingProgress()
    ).run()
    labels = read_json(out / "spec.json")["labels"]
    base = EmbeddingClassifier(
        AutoModel.from_pretrained(resolve_model(read_json(out / "student.json")["chosen"]["id"])), len(labels)
    )
    saved = AutoModel.from_pretrained(str(out / "model")).state_dict()
    assert all(torch.allclose(saved[name], weight, atol=1e-6) for name, weight in base.body.state_dict().items())
    head = load_file(str(out / "model" / HEAD_FILE))
    prototypes = label_prototypes(base, AutoTokenizer.from_pretrained(str(out / "model")), labels, MAX_INPUT_TOKENS)
    assert torch.allclose(head["weight"], prototypes, atol=1e-4) and not head["bias"].any()
    assert read_json(out / "train/metrics.json")["weight_ensemble"] == 0.0
    assert (
        "averaged with the base encoder's zero-shot classifier, 0.0 of the trained weights"
        in (out / "report.md").read_text()
    )


def test_push_to_hub_runs_after_the_last_stage_and_fails_clearly_offline(movie_run):
    from p2m.errors import P2MError

    _, out, _ = movie_run
    last = read_json(out / "config.json")  # the options the run dir was last finished with (other tests change them)
    progress = RecordingProgress()
    with pytest.raises(P2MError, match="could not push .* the run itself is complete"):
        Pipeline(RunConfig(**{**last, "push_to_hub": "someone/p2m-movies"}), progress).run()
    assert all(progress.finished.values()) and len(progress.finished) == 7  # nothing re-ran for the push
    with pytest.raises(
        P2MError,
        match="could not push .*data/hf to the Hub dataset someone/p2m-movie-data: .* the run itself is complete",
    ):
        Pipeline(RunConfig(**{**last, "push_dataset_to_hub": "someone/p2m-movie-data"}), RecordingProgress()).run()


def test_run_data_is_a_hub_dataset_with_a_card_and_trains_another_run(movie_run, tmp_path):
    import datasets
    from huggingface_hub import DatasetCard

    _, out, _ = movie_run
    data = datasets.load_from_disk(str(out / "data/hf"))
    assert set(data) == {"train", "test", "rejected"}
    assert len(data["train"]) == len(read_jsonl(out / "data/train.jsonl")) and len(data["test"]) == len(
        read_jsonl(out / "data/test.jsonl")
    )
    assert data["train"].column_names == data["rejected"].column_names and "score_teacher" in data["train"].column_names
    card = DatasetCard.load(out / "data/hf/README.md")
    assert "p2m" in card.data.tags and "sha256" in card.text and "Label balance" in card.text

    config = RunConfig(
        task=MOVIES,
        num_examples=0,
        votes=1,
        out=str(tmp_path / "reuse"),
        datasets=[str(out)],
        teacher=FAST_TEACHER,
        student=FAST_STUDENT,
    )
    Pipeline(config).run()
    reused = read_json(tmp_path / "reuse" / "data/datasets.json")[0]
    assert (
        reused["rows"] == len(data["train"]) and reused["mapping"]["by"] == "column names"
    )  # no call spent on the mapping
    train = read_jsonl(tmp_path / "reuse" / "data/train.jsonl")
    assert train and all(row["source"] == f"dataset:{out}" for row in train)
    assert not {row["input"] for row in train} & set(data["test"]["input"])  # the first run's test split stays out
    assert (tmp_path / "reuse" / "model" / "config.json").exists()


def test_a_second_process_on_a_run_dir_is_told_who_holds_it(movie_run):
    import os

    from p2m.errors import P2MError
    from p2m.files import exclusive

    _, out, _ = movie_run
    before = (out / "config.json").read_bytes()
    with exclusive(out / ".p2m.lock", wait=False):  # as another p2m process working there would
        with pytest.raises(P2MError, match=f"another p2m process \\(pid {os.getpid()}\\) is working in"):
            Pipeline(RunConfig(**read_json(out / "config.json"))).run()
    assert (out / "config.json").read_bytes() == before  # nothing written while locked out
