"""Distillation methods: the collator's aligned views, the GKD and WMSS losses, WMSS selection, and each
`--method` training the real SmolLM2 student inside the pipeline; LoRA, early stopping, push errors."""

import json
import shutil

import pytest
import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer, LlamaConfig, TrainingArguments

from p2m import Pipeline, RunConfig
from p2m.embedded import MINILM_ID, SMOLLM2_ID, smollm2_path
from p2m.errors import P2MError
from p2m.files import read_json
from p2m.student.model import MAX_NEW_TOKENS, Student, answer_budget
from p2m.training.distill import CompletionCollator, LogitKDTrainer, WMSSTrainer
from p2m.training.wmss import resample, selection_weights

DATES = "Convert dates like 'March 3, 2021' to ISO format 2021-03-03"
MOVIES = "Classify movie reviews as positive or negative"


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(smollm2_path())


def tiny_model(tokenizer, seed=0):
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    return AutoModelForCausalLM.from_config(config)


ROWS = [
    {
        "prompt": [{"role": "user", "content": "March 3, 2021"}],
        "completion": "2021-03-03",
        "teacher_prompt": [
            {"role": "system", "content": "Convert dates."},
            {"role": "user", "content": "Input: March 3, 2021\nOutput:"},
        ],
    },
    {
        "prompt": [{"role": "user", "content": "July 4, 1999, a long day"}],
        "completion": "1999-07-04",
        "teacher_prompt": [{"role": "user", "content": "Input: July 4, 1999, a long day"}],
    },
]


def test_collator_gives_teacher_and_student_the_same_completion_tokens(tokenizer):
    batch = CompletionCollator(tokenizer)(ROWS)
    for row in range(2):
        student = batch["labels"][row][batch["labels"][row] != -100].tolist()
        teacher = batch["teacher_labels"][row][batch["teacher_labels"][row] != -100].tolist()
        assert student == teacher and tokenizer.decode(student).startswith(ROWS[row]["completion"])
        assert student[-1] == tokenizer.eos_token_id
    assert batch["teacher_input_ids"].shape[1] > batch["input_ids"].shape[1]  # the teacher reads its longer prompt
    lengths = batch["prompt_lengths"].tolist()
    assert (
        lengths[0] < lengths[1] and (batch["prompt_ids"][0, : lengths[1] - lengths[0]] == tokenizer.pad_token_id).all()
    )


def trainer_args(tmp_path):
    return TrainingArguments(output_dir=str(tmp_path), report_to=[], remove_unused_columns=False, use_cpu=True)


def test_gkd_loss_is_zero_for_a_teacher_identical_on_the_same_view_and_not_on_its_own(tokenizer, tmp_path):
    """The embedded pair: student and teacher are both SmolLM2-135M-Instruct."""
    batch = CompletionCollator(tokenizer)(ROWS)
    model, teacher = (AutoModelForCausalLM.from_pretrained(smollm2_path()) for _ in range(2))
    same = {**batch, **{f"teacher_{k}": batch[k] for k in ("input_ids", "attention_mask", "labels")}}
    trainer = LogitKDTrainer(
        model=model, args=trainer_args(tmp_path), teacher_model=teacher, alpha=1.0, beta=0.5, on_policy=0.0
    )
    assert trainer.compute_loss(model, same).item() == pytest.approx(0.0, abs=1e-6)
    assert trainer.compute_loss(model, batch).item() > 1e-3  # its own prompt: a different distribution to match
    for beta in (0.0, 1.0):  # forward and reverse KL are defined too
        trainer.beta = beta
        assert trainer.compute_loss(model, batch).item() > 0


def test_wmss_loss_with_lambda_one_is_plain_cross_entropy(tokenizer, tmp_path):
    batch = CompletionCollator(tokenizer)(ROWS)
    strong, weak = tiny_model(tokenizer, 0), tiny_model(tokenizer, 1)
    plain = strong(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
    trainer = WMSSTrainer(model=strong, args=trainer_args(tmp_path), weak_model=weak, lam=1.0)
    assert trainer.compute_loss(strong, batch).item() == pytest.approx(plain.item(), rel=1e-4)
    trainer.lam = 0.5
    assert abs(trainer.compute_loss(strong, batch).item() - plain.item()) > 1e-3  # the weak model moved the loss


def test_wmss_selection_favours_hard_regressed_and_just_learned_examples():
    base, sft = [2.0, 0.5, 0.5, 2.0], [0.2, 0.5, 1.5, 1.9]  # learned, easy, regressed, still hard
    weights = selection_weights(base, sft, alpha=1, beta=1, gamma=1)
    assert weights[1] == min(weights) and weights[1] > 0  # easy and stable: least, but still drawable
    assert weights[0] > weights[3] > weights[1] and weights[2] > weights[1]
    only_rebound = selection_weights(base, sft, alpha=0, beta=0, gamma=1)
    assert max(range(4), key=only_rebound.__getitem__) == 2
    assert len(resample(list("abcd"), weights, seed=0)) == 4


def test_answer_budget_is_half_again_the_longest_training_answer(tokenizer):
    assert answer_budget(tokenizer, ["yes", "June"]) == 16  # the floor
    hundred = len(tokenizer(" word" * 100, add_special_tokens=False).input_ids)
    assert answer_budget(tokenizer, ["short", " word" * 100]) == hundred * 3 // 2 + 8
    assert answer_budget(tokenizer, [" word" * 1000]) == MAX_NEW_TOKENS


@pytest.fixture(scope="module")
def dates_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dates") / "run"
    config = RunConfig(
        task=DATES, num_examples=12, votes=1, keep_threshold=0.3, out=str(out), teacher=SMOLLM2_ID
    )  # logit-kd: a transformers teacher
    Pipeline(config).run(until="verify")
    return config


@pytest.mark.parametrize("method", ["logit-kd", "context", "wmss"])
def test_each_text_method_trains_a_student_that_loads_and_answers(dates_run, tmp_path, method):
    out = tmp_path / "run"
    shutil.copytree(dates_run.out, out)
    Pipeline(RunConfig(**{**dates_run.to_dict(), "out": str(out), "method": method, "epochs": 1})).run(until="train")
    training = read_json(out / "train" / "metrics.json")
    assert training["method"] == method and training["steps"] >= 1 and training["train_loss"] > 0
    meta = read_json(out / "model" / "p2m.json")
    assert meta["method"] == method and meta["prompt_instruction"] == (
        "" if method == "context" else meta["instruction"]
    )
    assert 16 <= meta["max_new_tokens"] < MAX_NEW_TOKENS  # from its short date answers
    answers = Student(out / "model").predict(["June 5, 2020"], max_new_tokens=8)
    assert len(answers) == 1 and isinstance(answers[0], str)
    assert not (out / "train" / "work").exists()


def test_logit_kd_needs_a_local_teacher(llama_server, tokenizer, tmp_path):
    from p2m.stages.train import local_teacher

    ctx = Pipeline(RunConfig(task=DATES, teacher_base_url=llama_server, out=str(tmp_path))).ctx
    with pytest.raises(P2MError, match="logit-kd needs the teacher's logits"):
        local_teacher(ctx, tokenizer)


def test_bad_method_and_lora_options_are_clear_errors():
    with pytest.raises(P2MError, match="--method must be one of"):
        RunConfig(task=MOVIES, method="distil").check()
    with pytest.raises(P2MError, match="--lora must be one of"):
        RunConfig(task=MOVIES, lora="maybe").check()


def test_lora_and_early_stopping_on_real_sst2_rows(tmp_path):
    from conftest import SHARED_DATA

    source = SHARED_DATA / "sst2" / "train.jsonl"
    if not source.exists():
        pytest.skip("../shared/data/sst2 is not beside this checkout")
    rows = [
        json.loads(line) for line in source.read_text().splitlines()[:300]
    ]  # 240 train after the held-out fifth: early stopping from 200
    data = tmp_path / "sst2.jsonl"
    data.write_text("".join(json.dumps({"text": r["text"], "label": r["label_text"]}) + "\n" for r in rows))
    config = RunConfig(
        task=MOVIES,
        num_examples=0,
        datasets=[str(data)],
        out=str(tmp_path / "run"),
        lora="on",
        early_stopping=1,
        epochs=4,
        student=MINILM_ID,
        classifier_tuning="full",
    )
    report = Pipeline(config).run()
    training = report["training"]
    assert training["lora"] == "on" and training["validation_examples"] >= 20 and training["eval_loss_curve"]
    assert report["n_test"] > 0  # real rows are held out when there is nothing else to evaluate on
    model = AutoModel.from_pretrained(tmp_path / "run" / "model")  # adapters merged: a plain encoder
    assert not any("lora" in name for name, _ in model.named_parameters())
