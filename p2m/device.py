"""Where models run: CUDA (bf16 where the card supports it) when present, else CPU."""

from __future__ import annotations

import torch


def best_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def use_bf16() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())
