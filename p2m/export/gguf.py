"""`p2m export RUN --format gguf`: a causal student as one GGUF file for llama.cpp (and Ollama).

Written with `gguf`, llama.cpp's own reader/writer package (already a p2m dependency for reading GGUF
teachers), so no llama.cpp checkout or conversion script is needed. It covers the Llama architecture
(SmolLM2, p2m's default text student) and Qwen2 (Qwen2.5 students): the tensor names come from gguf's
map, a Llama's query and key projections are permuted back to llama.cpp's rotary layout (Qwen2's are
stored in it already, as llama.cpp's own converter assumes), matrices are F16 and norms F32 (the usual
base for `llama-quantize`; a Q8_0 export of a 135M student was measured no faster on 2 CPU cores and
changed 1 of 13 answers, so it is not offered). The tokenizer is the student's own (BPE vocab,
merges, special tokens and chat template); its pre-tokenizer name is taken from the GGUF the base
model came from where there is one (else the architecture's own), since llama.cpp picks its split rules by that name. The export is checked: llama.cpp answers the
held-out inputs and the exact-match rate against torch's greedy answers is written to check.json."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from p2m import run_paths
from p2m.embedded import gguf_source
from p2m.errors import P2MError
from p2m.files import read_jsonl, write_json, write_text
from p2m.student.kinds import CAUSAL, student_prompt
from p2m.student.model import Student


@dataclass(frozen=True)
class Architecture:
    name: str  # llama.cpp's, also gguf's MODEL_ARCH member in capitals
    permute_rotary: bool
    pre_tokenizer: str  # llama.cpp's split rules where the base model's own GGUF does not name them


ARCHITECTURES = {
    "LlamaForCausalLM": Architecture("llama", True, "default"),
    "Qwen2ForCausalLM": Architecture("qwen2", False, "qwen2"),
}


def export_gguf(run_dir: Path) -> dict:
    """Write export/gguf/model.gguf and a Modelfile; check llama.cpp's answers against torch's."""
    if not (run_dir / run_paths.MODEL_META).exists():
        raise P2MError(f"{run_dir} has no trained student (no {run_paths.MODEL_META}); run p2m run first")
    student = Student(run_dir / run_paths.MODEL)
    if student.kind.export_format != "gguf":
        raise P2MError("GGUF export is for text (causal LM) students; export an encoder student with --format onnx")
    architecture = student.model.config.architectures[0]
    if architecture not in ARCHITECTURES:
        raise P2MError(f"GGUF export covers {', '.join(ARCHITECTURES)} students; this one is {architecture}")
    target = run_dir / run_paths.GGUF
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    pre = write_gguf(student, target / "model.gguf")
    write_text(target / "Modelfile", modelfile(student))
    texts = [row["input"] for row in read_jsonl(run_dir / run_paths.TEST)]
    torch_answers, gguf_answers = (
        student.predict(texts),
        GgufStudent(target / "model.gguf", student.meta).predict(texts),
    )
    same = sum(a == b for a, b in zip(torch_answers, gguf_answers))
    check = {
        "n": len(texts),
        "same_answer": same,
        "exact_match_rate": round(same / len(texts), 4) if texts else None,
        "pre_tokenizer": pre,
        "bytes": (target / "model.gguf").stat().st_size,
    }
    write_json(target / "check.json", check)
    return {"path": str(target), **check}


def write_gguf(student: Student, path: Path) -> str:
    """The model and tokenizer as GGUF; returns the pre-tokenizer name used."""
    import gguf

    config = student.model.config
    architecture = ARCHITECTURES[config.architectures[0]]
    writer = gguf.GGUFWriter(str(path), architecture.name)
    writer.add_name(f"p2m student of {student.meta['base_model']}")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(
        float(
            (getattr(config, "rope_parameters", None) or {}).get("rope_theta", getattr(config, "rope_theta", 10000.0))
        )
    )
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    pre = add_tokenizer(writer, student, architecture.pre_tokenizer)
    add_tensors(writer, student, architecture)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return pre


def add_tokenizer(writer, student: Student, default_pre: str) -> str:
    import gguf

    folder = student.dir
    vocab = gguf.vocab.BpeVocab(folder)
    tokens, _, types = zip(*vocab.all_tokens())
    # llama.cpp wants a token per embedding row; Qwen2.5's matrix has rows no token uses (its converter pads alike)
    padding = range(len(tokens), student.model.config.vocab_size)
    tokens, types = tokens + tuple(f"[PAD{i}]" for i in padding), types + (gguf.TokenType.UNUSED,) * len(padding)
    pre = pre_tokenizer(student.meta["base_model"], default_pre)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_vocab_size(student.model.config.vocab_size)
    writer.add_token_list([t.encode() if isinstance(t, str) else t for t in tokens])
    # Control tokens: the named ones and every added token flagged special (Qwen's <|im_start|> is only there);
    # llama.cpp would otherwise split a chat template's markers into characters.
    added = student.tokenizer.added_tokens_decoder.values()
    special = {t.encode() for t in [*student.tokenizer.all_special_tokens, *(a.content for a in added if a.special)]}
    writer.add_token_types(
        [
            gguf.TokenType.CONTROL if (t.encode() if isinstance(t, str) else t) in special else kind
            for t, kind in zip(tokens, types)
        ]
    )
    gguf.SpecialVocab(folder, load_merges=True, n_vocab=len(tokens)).add_to_gguf(writer, quiet=True)
    return pre


def pre_tokenizer(base_model: str, default: str) -> str:
    """llama.cpp's name for the base model's pre-tokenizer, read from its GGUF; `default` without one."""
    source = gguf_source(base_model)
    if source is None:
        return default
    import gguf

    field = gguf.GGUFReader(str(source)).fields.get("tokenizer.ggml.pre")
    return field.contents() if field is not None else default


def add_tensors(writer, student: Student, architecture: Architecture) -> None:
    import gguf
    import numpy as np

    config = student.model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[architecture.name.upper()], config.num_hidden_layers)
    for key, tensor in student.model.state_dict().items():
        if key == "lm_head.weight" and config.tie_word_embeddings:
            continue  # llama.cpp reads the tied output matrix from the token embeddings
        name = names.get_name(key, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise P2MError(f"GGUF export: no llama.cpp name for the student's tensor {key}")
        data = tensor.float().cpu().numpy()
        if architecture.permute_rotary and key.endswith("q_proj.weight"):
            data = rotary_permute(data, config.num_attention_heads)
        elif architecture.permute_rotary and key.endswith("k_proj.weight"):
            data = rotary_permute(data, config.num_key_value_heads)
        writer.add_tensor(name, data.astype(np.float16 if data.ndim == 2 else np.float32))


def rotary_permute(weights, heads: int):
    """Hugging Face's rotary layout (halves) to llama.cpp's (interleaved pairs), per head."""
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


class GgufStudent:
    """A causal student's GGUF export answered by llama.cpp (greedy, the student's answer budget),
    prompted as the student is: what `p2m export --format gguf` hands to llama.cpp or Ollama, and what
    `p2m serve --gguf` serves. One input at a time: llama-cpp-python's Llama decodes one sequence."""

    kind = CAUSAL

    def __init__(self, path: Path, meta: dict):
        try:
            from llama_cpp import Llama
        except ImportError:
            raise P2MError("running a GGUF export needs llama-cpp-python: pip install 'p2m[embedded]'") from None
        from p2m.teacher.llamacpp import cpu_threads

        threads = cpu_threads()  # as the teacher runs, so the two compare side by side
        self.llm = Llama(str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False, seed=0)
        self.instruction = meta.get("prompt_instruction", meta["instruction"])
        self.budget = meta.get("max_new_tokens") or 64

    def predict(self, texts: list[str]) -> list[str]:
        return [
            self.llm.create_chat_completion(
                [{"role": "user", "content": student_prompt(self.instruction, text)}],
                temperature=0.0,
                max_tokens=self.budget,
            )["choices"][0]["message"]["content"].strip()
            for text in texts
        ]

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=False, special=True))


def modelfile(student: Student) -> str:
    """An Ollama Modelfile: the GGUF, greedy decoding, the answer budget; the template comes from the
    GGUF's chat template. The user turn must be formatted as the student was trained."""
    instruction = student.meta.get("prompt_instruction", student.meta["instruction"])
    example = student_prompt(instruction, "<your input>").replace("\n", "\n# ")
    return (
        f"# p2m student of {student.meta['base_model']}: ollama create NAME -f Modelfile\n"
        f"# Send each input as the user message, formatted as in training:\n# {example}\n"
        f"FROM ./model.gguf\nPARAMETER temperature 0\nPARAMETER num_predict {student.meta.get('max_new_tokens') or 64}\n"
    )
