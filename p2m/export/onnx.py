"""`p2m export RUN --format onnx`: an encoder student (classifier or span extractor) as ONNX, run by
ONNX Runtime.

Why ONNX Runtime: an encoder served on CPU needs no torch there, and ORT's fused kernels answer
one request faster than torch (check.json records both latencies). The export goes through
torch's maintained exporter (`torch.onnx.export(dynamo=True)`, onnxscript); batch and sequence length
stay dynamic. An export is kept only if ONNX Runtime gives the same output (label or span) as torch on
every held-out input; the check, with both latencies, is written beside the model (check.json)."""

from __future__ import annotations

import importlib.util
import logging
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from p2m import run_paths
from p2m.errors import P2MError
from p2m.files import read_json, read_jsonl, write_json
from p2m.student.extractive import MODEL_INPUTS, best_spans, span_windows
from p2m.student.kinds import MAX_INPUT_TOKENS
from p2m.student.model import META_FILE, Student, mean_latency_ms, saved_kind

CLASSIFIER_INPUTS = ("input_ids", "attention_mask")


class OnnxStudent:
    """An exported student: the tokenizer, an ORT session and p2m.json (label names, kind); the same
    `predict` as `Student`, so the server and the evaluation take either."""

    def __init__(self, folder: str | Path):
        import onnxruntime
        from transformers import AutoTokenizer

        self.dir = Path(folder)
        self.meta = read_json(self.dir / META_FILE)
        self.kind = saved_kind(self.meta)
        self.tokenizer = AutoTokenizer.from_pretrained(self.dir)
        self.labels = self.meta["labels"]
        self.session = onnxruntime.InferenceSession(str(self.dir / "model.onnx"), providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def predict(self, texts: list[str], batch_size: int = 16) -> list[str]:
        outputs: list[str] = []
        for start in range(0, len(texts), batch_size):
            outputs += (self._labels if self.kind.classifies else self._spans)(texts[start : start + batch_size])
        return outputs

    def _labels(self, texts: list[str]) -> list[str]:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=MAX_INPUT_TOKENS, return_tensors="np")
        logits = self.session.run(None, {name: enc[name].astype(np.int64) for name in self.inputs})[0]
        return [self.labels[i] for i in logits.argmax(-1).tolist()]

    def _spans(self, texts: list[str]) -> list[str]:
        import torch

        parts, enc = span_windows(self.tokenizer, texts, self.meta["instruction"])
        start, end = self.session.run(None, {name: np.array(enc[name], dtype=np.int64) for name in self.inputs})
        return best_spans(parts, enc, torch.from_numpy(start), torch.from_numpy(end))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])

    def latency_ms(self, texts: list[str], limit: int = 32) -> float:
        return mean_latency_ms(self.predict, texts, limit)


def export_onnx(run_dir: Path) -> dict:
    """Export run_dir's encoder student to export/onnx/ and check it against torch on the held-out inputs."""
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise P2MError(f"ONNX export needs {', '.join(missing)}: pip install 'p2m[export]'")
    if not (run_dir / run_paths.MODEL_META).exists():
        raise P2MError(f"{run_dir} has no trained student (no {run_paths.MODEL_META}); run p2m run first")
    student = Student(run_dir / run_paths.MODEL)
    if student.kind.export_format != "onnx":
        raise P2MError(
            "ONNX export is for encoder students (classifiers, span extractors); export a causal student with --format gguf"
        )
    target = run_dir / run_paths.ONNX
    if target.exists():
        shutil.rmtree(target)
    _write_onnx(student, target)
    texts = [row["input"] for row in read_jsonl(run_dir / run_paths.TEST)]
    exported = OnnxStudent(target)
    torch_outputs, onnx_outputs = student.predict(texts), exported.predict(texts)
    check = {
        "n": len(texts),
        "same_output": sum(a == b for a, b in zip(torch_outputs, onnx_outputs)),
        "torch_latency_ms": round(student.latency_ms(texts), 2),
        "onnx_latency_ms": round(exported.latency_ms(texts), 2),
    }
    write_json(target / "check.json", check)
    if check["same_output"] != check["n"]:
        shutil.rmtree(target)
        raise P2MError(
            f"the ONNX export answers otherwise than torch on {check['n'] - check['same_output']} of {check['n']} "
            "held-out inputs; it was not kept"
        )
    return {"path": str(target), **check}


def _write_onnx(student: Student, target: Path) -> None:
    """model.onnx plus what OnnxStudent reads: tokenizer files and p2m.json (label names, kind)."""
    import torch

    target.mkdir(parents=True)
    model = student.model.float().cpu()
    texts = ["a short input", "a somewhat longer second input"]
    if student.kind.classifies:
        sample, inputs, outputs = (
            student.tokenizer(texts, padding=True, return_tensors="pt"),
            CLASSIFIER_INPUTS,
            ["logits"],
        )
    else:  # a question and a passage per window, as the span student reads them
        sample = student.tokenizer(
            texts,
            ["a passage of a few words", "a longer passage of several more words"],
            padding=True,
            return_tensors="pt",
        )
        inputs, outputs = tuple(name for name in MODEL_INPUTS if name in sample), ["start_logits", "end_logits"]
    dims = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), _quiet_logger("torch.onnx"):
        # the exporter's notes on this model's shapes and on optional torchvision ops: nothing to act on
        warnings.filterwarnings("ignore", message=r".*(axis name|treespec|LeafSpec).*")
        torch.onnx.export(
            model,
            tuple(sample[name] for name in inputs),
            str(target / "model.onnx"),
            input_names=list(inputs),
            output_names=outputs,
            dynamic_shapes=tuple(dims for _ in inputs),
            dynamo=True,
            verbose=False,
        )
    student.tokenizer.save_pretrained(target)
    shutil.copy(student.dir / META_FILE, target / META_FILE)


@contextmanager
def _quiet_logger(name: str):
    """A library logger at ERROR for a block (torch's exporter logs each optional op it skips)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
