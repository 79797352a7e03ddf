"""What every stage is: a named step that declares the run files it reads and writes, the options and
prompts its outputs depend on, and a fingerprint of all of them (with the *contents* of any file it
reads from outside the run dir), so a stage whose inputs did not change is skipped."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from p2m import prompts, run_paths
from p2m.config import RunConfig
from p2m.files import read_json
from p2m.progress import Progress
from p2m.spec import TaskSpec
from p2m.teacher.calls import ChatRequest, ChatResponse, ScoreRequest, Teacher


@dataclass
class RunContext:
    """What a stage can see: the run dir, the options, the teacher and where to report progress."""

    run_dir: Path
    config: RunConfig
    teacher: Teacher
    progress: Progress = field(default_factory=Progress)
    fingerprint: str = ""  # of the stage running now: lets a stage tell its own partial work from stale work

    def path(self, relative: str) -> Path:
        """A run file by its `run_paths` name."""
        return self.run_dir / relative

    def spec(self) -> TaskSpec:
        return TaskSpec.from_dict(read_json(self.path(run_paths.SPEC)))

    def chat(self, requests: list[ChatRequest], description: str, chunk: int = 16) -> list[ChatResponse]:
        """Teacher calls in chunks, with progress: the cache fills as we go, so an interrupt loses
        at most one chunk."""
        return self._in_chunks(self.teacher.chat, requests, description, chunk)

    def score(self, requests: list[ScoreRequest], description: str, chunk: int = 64) -> list[float]:
        """Teacher log-likelihoods, in chunks with progress, like `chat`."""
        return self._in_chunks(self.teacher.score, requests, description, chunk)

    def _in_chunks(self, call, requests: list, description: str, chunk: int) -> list:
        self.progress.task(description, total=len(requests))
        results: list = []
        for start in range(0, len(requests), chunk):
            results += call(requests[start : start + chunk])
            self.progress.advance(min(chunk, len(requests) - start))
        return results


class Stage:
    """One pipeline step. Subclasses set the class attributes and implement `run`."""

    name: str = ""
    version: int = 1  # bump when the stage's logic changes what it writes
    config_fields: tuple[str, ...] = ()  # RunConfig fields whose value changes the outputs
    uses_teacher: bool = False
    inputs: tuple[str, ...] = ()  # run files (run_paths) written by earlier stages
    outputs: tuple[str, ...] = ()  # run files this stage writes; all present = the stage is done
    prompt_files: tuple[str, ...] = ()  # prompts/NAME.txt files the stage renders

    def external_files(self, config: RunConfig) -> list[Path]:
        """Files outside the run dir whose contents change the outputs (e.g. local datasets)."""
        return []

    def fingerprint(self, ctx: RunContext, upstream: str) -> str:
        inputs = {
            "stage": self.name,
            "version": self.version,
            "upstream": upstream,
            "config": {name: getattr(ctx.config, name) for name in self.config_fields},
            "files": {str(path): content_digest(path) for path in self.external_files(ctx.config)},
            "teacher": ctx.teacher.identity if self.uses_teacher else None,
            "prompts": prompts.digest(self.prompt_files),
            "p2m": version("p2m"),
        }
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]

    def run(self, ctx: RunContext) -> None:
        raise NotImplementedError


def content_digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files (names and contents, in name order)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
        digest.update(str(file.relative_to(path) if file != path else file.name).encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
