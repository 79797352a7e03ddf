"""The pipeline: stages over a run directory.

Each stage reads and writes typed files in the run dir and is skipped when its outputs exist and the
fingerprint of its inputs (its options, the teacher, the contents of outside files it reads, and the
fingerprint of the stage before it) is the one recorded in `stages.json`. The CLI, the Python API and
the TUI all drive `Pipeline.run`; this module only orchestrates.
"""

from __future__ import annotations

import errno
import time
from contextlib import ExitStack
from pathlib import Path

from p2m import prompts, run_paths
from p2m.config import RunConfig
from p2m.errors import P2MError
from p2m.files import Locked, exclusive, read_json, write_json
from p2m.plan import estimate_spend
from p2m.privacy import private_dir
from p2m.progress import Progress
from p2m.retrieval.students import find_student
from p2m.run_ledger import RunLedger
from p2m.spec import TaskSpec
from p2m.stages import stage_classes
from p2m.stages.base import RunContext, Stage
from p2m.stages.evaluate import evaluate_file
from p2m.teacher.choice import build_teacher


class Pipeline:
    """Runs stages in order over one run directory, skipping those whose outputs are current."""

    def __init__(self, config: RunConfig, progress: Progress | None = None, stages: list[Stage] | None = None):
        config.check()
        if config.student != "auto":
            find_student(config.student)  # fail fast, before the teacher is asked anything
        self.config = config
        self.run_dir = config.run_dir()
        self.teacher = build_teacher(config)  # first: an unreachable server is told before the stages' libraries load
        self.stages = stages or [stage() for stage in stage_classes()]
        self.ledger = RunLedger(self.run_dir, self.teacher)
        self.ctx = RunContext(self.run_dir, config, self.teacher, progress or Progress())

    @classmethod
    def open(cls, run_dir: str | Path, progress: Progress | None = None) -> Pipeline:
        """The pipeline of an existing run directory, with the options it was last run with."""
        path = Path(run_dir)
        if not (path / run_paths.CONFIG).exists():
            raise P2MError(f"{run_dir} is not a p2m run directory (it has no config.json)")
        options = {**read_json(path / run_paths.CONFIG), "out": str(path)}
        ledger = path / run_paths.LEDGER
        if options.get("teacher_base_url") and options.get("teacher") in ("auto", "embedded") and ledger.exists():
            options["teacher"] = read_json(ledger)["teacher"]["model"]  # re-opened without asking the server
        return cls(RunConfig(**options), progress)

    def evaluate(
        self,
        test_file: str | Path,
        input_field: str | None = None,
        label_field: str | None = None,
        limit: int | None = None,
    ) -> dict:
        """Teacher and student of this run on a real test file (results in eval/<file stem>/)."""
        if not (self.run_dir / run_paths.MODEL_META).exists():
            raise P2MError(f"{self.run_dir} has no trained student yet; finish it with p2m run first")
        with ExitStack() as stack:
            stack.enter_context(self.teacher.tagged("eval"))
            self._lock(stack, record_options=False)
            try:
                return evaluate_file(self.ctx, test_file, input_field, label_field, limit)
            finally:
                self.ledger.close()
                self.ctx.progress.close()

    def estimate(self) -> dict:
        return estimate_spend(self.config, self.teacher.backend.price_per_mtok, self.teacher.can_score)

    def spec(self) -> TaskSpec:
        """The run's task spec as parsed (or last replaced): read it, edit it, hand it to `replace_spec`."""
        return self.ctx.spec()

    def replace_spec(self, spec: TaskSpec) -> None:
        """Use an edited spec (the TUI's spec screen): stages after parse run again with it."""
        write_json(self.run_dir / run_paths.SPEC, {**spec.to_dict(), "warnings": []})
        state_path = self.run_dir / run_paths.STAGES
        state = read_json(state_path) if state_path.exists() else {}
        write_json(state_path, {name: value for name, value in state.items() if name == "parse"})

    def run(self, until: str | None = None) -> dict:
        """Run (or resume) the pipeline; returns the report. `until` stops after the named stage."""
        with ExitStack() as stack:
            self._lock(stack)
            self._run_stages(until)
        report = self.run_dir / run_paths.REPORT_JSON
        return read_json(report) if report.exists() else {}

    def _run_stages(self, until: str | None) -> None:
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
            self.ledger.close()
            self.ctx.progress.close()

    def _lock(self, stack: ExitStack, record_options: bool = True) -> None:
        """Create the run dir (checked in __init__) private to the user, hold its lock for the stack's
        life (a second p2m process on it is told who has it), and record this invocation's options."""
        path = self.run_dir
        try:
            private_dir(path)
            stack.enter_context(exclusive(path / run_paths.LOCK, wait=False))
            self.ledger.attach()
            if record_options:
                write_json(path / run_paths.CONFIG, self.config.to_dict())
        except Locked as holder:
            raise P2MError(
                f"another p2m process (pid {holder}) is working in {path}; wait for it to finish, or pass another --out"
            ) from None
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise
            raise P2MError(f"cannot write the run directory {path}: {error.strerror}") from None

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
            raise P2MError(
                f"the {stage.name} stage needs {', '.join(missing)} in {self.run_dir}; run the stages before it first"
            )
        self.ctx.progress.stage_started(stage.name)
        self.ctx.fingerprint = fingerprint
        started = time.perf_counter()
        with self.teacher.tagged(stage.name), prompts.recorded() as rendered:
            stage.run(self.ctx)
        seconds = round(time.perf_counter() - started, 2)
        state[stage.name] = {"fingerprint": fingerprint, "seconds": seconds, "finished": time.time()}
        state[stage.name]["prompts"] = sorted(rendered)  # the prompt files it read; its fingerprint hashes prompt_files
        self.ctx.progress.stage_finished(stage.name, skipped=False, seconds=seconds)
        return fingerprint
