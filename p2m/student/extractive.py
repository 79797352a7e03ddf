"""The extractive student: an encoder with a span head (transformers `AutoModelForQuestionAnswering`)
that copies its answer out of the passage.

Why not a causal LM for extraction: a span is in the passage by construction, and an encoder reads a
passage once (MiniLM: 22M parameters) instead of generating its answer token by token. An input is
read into question and passage as p2m.tasks.spans.split_input reads it.
Passages longer than a window are read in overlapping windows, as transformers' QA examples do."""

from __future__ import annotations

import torch

from p2m.tasks.spans import split_input

MAX_LENGTH = 384  # tokens a window holds: question and passage together
STRIDE = 128  # tokens two windows of one passage share
MAX_ANSWER_TOKENS = 30
TOP_K = 20  # start and end positions considered per window


def windows(tokenizer, questions: list[str], passages: list[str], padding: bool):
    """Tokenized (question, passage) windows with offsets; `overflow_to_sample_mapping` names each
    window's example."""
    return tokenizer(
        questions,
        passages,
        truncation="only_second",
        max_length=MAX_LENGTH,
        stride=STRIDE,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=padding,
    )


def training_features(tokenizer, rows: list[dict], instruction: str) -> dict[str, list]:
    """Model inputs with start/end token positions of each answer; a window that does not hold the
    answer points at the first token ([CLS]), as SQuAD 2.0 training does."""
    parts = [split_input(r["input"], instruction) for r in rows]
    enc = windows(tokenizer, [q for q, _ in parts], [p for _, p in parts], padding=False)  # the collator pads a batch
    starts, ends = [], []
    for w, example in enumerate(enc["overflow_to_sample_mapping"]):
        passage, answer = parts[example][1], rows[example]["output"]
        first = passage.find(answer)
        start, end = (
            token_span(enc.sequence_ids(w), enc["offset_mapping"][w], first, first + len(answer))
            if first >= 0
            else (0, 0)
        )
        starts.append(start)
        ends.append(end)
    features = {k: enc[k] for k in enc if k not in ("offset_mapping", "overflow_to_sample_mapping")}
    return {**features, "start_positions": starts, "end_positions": ends}


def token_span(sequence_ids: list, offsets: list, first_char: int, end_char: int) -> tuple[int, int]:
    """Token positions of the characters [first_char, end_char) of the passage, or (0, 0) outside the window."""
    inside = [i for i, s in enumerate(sequence_ids) if s == 1]
    if not inside or offsets[inside[0]][0] > first_char or offsets[inside[-1]][1] < end_char:
        return 0, 0
    start = next(i for i in inside if offsets[i][1] > first_char)
    end = next(i for i in reversed(inside) if offsets[i][0] < end_char)
    return start, end


MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # the last only for tokenizers that give it (BERT)


def span_windows(tokenizer, texts: list[str], instruction: str):
    """(question, passage) of each input and their padded windows, ready for a span model."""
    parts = [split_input(t, instruction) for t in texts]
    return parts, windows(tokenizer, [q for q, _ in parts], [p for _, p in parts], padding=True)


@torch.inference_mode()
def predict_spans(model, tokenizer, texts: list[str], instruction: str, device) -> list[str]:
    """Each input's answer from a torch span model."""
    parts, enc = span_windows(tokenizer, texts, instruction)
    out = model(**{k: torch.tensor(enc[k], device=device) for k in MODEL_INPUTS if k in enc})
    return best_spans(parts, enc, out.start_logits.float().cpu(), out.end_logits.float().cpu())


def best_spans(parts: list[tuple[str, str]], enc, start_logits: torch.Tensor, end_logits: torch.Tensor) -> list[str]:
    """The best-scoring span (start + end logit, at most MAX_ANSWER_TOKENS long) over each input's
    windows; the logits are [window, token], from torch or ONNX Runtime."""
    best: dict[int, tuple[float, str]] = {}
    for w, example in enumerate(enc["overflow_to_sample_mapping"]):
        passage, offsets, ids = parts[example][1], enc["offset_mapping"][w], enc.sequence_ids(w)
        k = min(TOP_K, len(ids))  # a short input has fewer tokens than TOP_K
        for s in start_logits[w].topk(k).indices.tolist():
            for e in end_logits[w].topk(k).indices.tolist():
                if ids[s] != 1 or ids[e] != 1 or e < s or e - s + 1 > MAX_ANSWER_TOKENS:
                    continue
                score = float(start_logits[w][s] + end_logits[w][e])
                if score > best.get(example, (float("-inf"), ""))[0]:
                    best[example] = (score, passage[offsets[s][0] : offsets[e][1]])
    return [best.get(i, (0.0, ""))[1] for i in range(len(parts))]
