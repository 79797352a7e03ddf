"""The pipeline: stages over a run directory.

Each stage reads and writes typed files in the run dir and is skipped when its outputs exist and the
fingerprint of its inputs (its options, the teacher, the contents of outside files it reads, and the
fingerprint of the stage before it) is the one recorded in `stages.json`. The CLI, the Python API and
the TUI all drive `Pipeline.run`; this module only orchestrates.
"""

from __future__ import annotations

import time
from pathlib import Path

from p2m import run_paths
from p2m.config import RunConfig
from p2m.errors import P2MError
from p2m.files import read_json, write_json
from p2m.plan import estimate_spend
from p2m.progress import Progress
from p2m.retrieval.students import find_student
from p2m.spec import TaskSpec
from p2m.stages import stage_classes
from p2m.stages.base import RunContext, Stage
from p2m.stages.evaluate import evaluate_file
from p2m.teacher.calls import Ledger
from p2m.teacher.choice import build_teacher


class Pipeline:
    """Runs stages in order over one run directory, skipping those whose outputs are current."""

    def __init__(self, config: RunConfig, progress: Progress | None = None, stages: list[Stage] | None = None):
        config.check()
        if config.student != "auto":
            find_student(config.student)  # fail fast, before the teacher is asked anything
        self.config = config
        self.run_dir = config.run_dir()
        self.stages = stages or [stage() for stage in stage_classes()]
        self.teacher = build_teacher(config)
        self.teacher.on_ledger = self._save_ledger
        self.ctx = RunContext(self.run_dir, config, self.teacher, progress or Progress())

    @classmethod
    def open(cls, run_dir: str | Path, progress: Progress | None = None) -> "Pipeline":
        """The pipeline of an existing run directory, with the options it was last run with."""
        path = Path(run_dir)
        if not (path / run_paths.CONFIG).exists():
            raise P2MError(f"{run_dir} is not a p2m run directory (it has no config.json)")
        return cls(RunConfig(**{**read_json(path / run_paths.CONFIG), "out": str(path)}), progress)

    def evaluate(self, test_file: str | Path, input_field: str | None = None, label_field: str | None = None,
                 limit: int | None = None) -> dict:
        """Teacher and student of this run on a real test file (results in eval/<file stem>/)."""
        if not (self.run_dir / run_paths.MODEL_META).exists():
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
        write_json(self.run_dir / run_paths.SPEC, {**spec.to_dict(), "warnings": []})
        state_path = self.run_dir / run_paths.STAGES
        state = read_json(state_path) if state_path.exists() else {}
        write_json(state_path, {name: value for name, value in state.items() if name == "parse"})

    def _save_ledger(self, ledger: Ledger) -> None:
        path = self.run_dir / run_paths.LEDGER
        history = read_json(path).get("history", []) if path.exists() else []
        write_json(path, {"teacher": self.teacher.backend.describe(), "this_invocation": ledger.__dict__, "history": history})

    def run(self, until: str | None = None) -> dict:
        """Run (or resume) the pipeline; returns the report. `until` stops after the named stage."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.run_dir / run_paths.CONFIG, self.config.to_dict())
        state_path = self.run_dir / run_paths.STAGES
        state = read_json(state_path) if state_path.exists() else {}
        upstream = ""
        try:
            for stage in self.stages:
                upstream = self._run_stage(stage, upstream, state)
                write_json(state_path, state)
                if stage.name == until:
                    break
            if until in (None, self.stages[-1].name):
                self._push()
        finally:
            self._close_ledger()
            self.ctx.progress.close()
        report = self.run_dir / run_paths.REPORT_JSON
        return read_json(report) if report.exists() else {}

    def _push(self) -> None:
        """Upload what the options ask for, once every stage is done (huggingface_hub only when asked)."""
        if self.config.push_to_hub:
            from p2m.student.hub import push_model

            url = push_model(self.run_dir / run_paths.MODEL, self.config.push_to_hub)
            self.ctx.progress.log(f"pushed model/ to {url}")
        if self.config.push_dataset_to_hub:
            from p2m.export.dataset import push_dataset

            url = push_dataset(self.run_dir / run_paths.DATASET, self.config.push_dataset_to_hub)
            self.ctx.progress.log(f"pushed data/hf/ to {url}")

    def _run_stage(self, stage: Stage, upstream: str, state: dict) -> str:
        """Run one stage unless its outputs are current (recorded in `state`); returns its fingerprint."""
        fingerprint = stage.fingerprint(self.ctx, upstream)
        current = state.get(stage.name, {}).get("fingerprint") == fingerprint
        if current and all((self.run_dir / out).exists() for out in stage.outputs):
            self.ctx.progress.stage_finished(stage.name, skipped=True, seconds=0.0)
            return fingerprint
        missing = [name for name in stage.inputs if not (self.run_dir / name).exists()]
        if missing:
            raise P2MError(f"the {stage.name} stage needs {', '.join(missing)} in {self.run_dir}; run the stages before it first")
        self.ctx.progress.stage_started(stage.name)
        self.teacher.stage = stage.name
        self.ctx.fingerprint = fingerprint
        started = time.perf_counter()
        stage.run(self.ctx)
        seconds = round(time.perf_counter() - started, 2)
        state[stage.name] = {"fingerprint": fingerprint, "seconds": seconds, "finished": time.time()}
        self.ctx.progress.stage_finished(stage.name, skipped=False, seconds=seconds)
        return fingerprint

    def _close_ledger(self) -> None:
        """Append this invocation to the ledger's history, so every call ever made stays accounted."""
        self._save_ledger(self.teacher.ledger)
        path = self.run_dir / run_paths.LEDGER
        data = read_json(path)
        data["history"].append({"finished": time.time(), **self.teacher.ledger.__dict__})
        write_json(path, data)
