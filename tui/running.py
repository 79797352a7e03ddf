"""The Run and Results screens, and the progress sink that feeds the pipeline's progress to them."""

from __future__ import annotations

import threading

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, RichLog, Static

from p2m import run_paths
from p2m.errors import P2MError
from p2m.files import read_json, read_jsonl
from p2m.metrics import comparison_rows, verdict
from p2m.progress import Progress
from p2m.stages import STAGE_NAMES
from p2m.tui.base import WizardScreen


class RunCancelled(P2MError):
    """Raised inside the pipeline thread at its next progress report after Cancel."""


class TuiProgress(Progress):
    """Runs in the pipeline's thread: forwards each report to the Run screen on the UI thread, and
    stops the run there once Cancel was pressed (the stage in flight is dropped, finished ones stay)."""

    def __init__(self, screen: RunScreen):
        self.screen = screen
        self.cancel = threading.Event()
        self.stage = ""

    def _send(self, method, *args) -> None:
        if self.cancel.is_set():
            raise RunCancelled(
                f"cancelled; finished work is kept in {self.screen.app.pipeline.run_dir}; "
                f"p2m tui {self.screen.app.pipeline.run_dir} resumes it"
            )
        self.screen.app.call_from_thread(method, *args)

    def stage_started(self, name: str) -> None:
        self.stage = name
        self._send(self.screen.stage_started, name)

    def stage_finished(self, name: str, skipped: bool, seconds: float) -> None:
        self._send(self.screen.stage_finished, name, skipped, seconds)

    def task(self, description: str, total: int | None) -> None:
        self._send(self.screen.task, self.stage, description, total)

    def advance(self, n: int = 1, **info) -> None:
        self._send(self.screen.advance, self.stage, n, info)

    def log(self, message: str) -> None:
        self._send(self.screen.write, message)


class RunScreen(WizardScreen):
    """Each stage with its own bar, the live ledger, a log, and Cancel. Opening a run that did not
    finish shows this screen; Start resumes it (finished stages are skipped)."""

    STEP = 4

    def __init__(self, start: bool = False):
        super().__init__()
        self.start_now = start
        self.progress: TuiProgress | None = None

    def body(self) -> ComposeResult:
        yield Static("", id="task-line")
        for name in STAGE_NAMES:
            with Horizontal(classes="stage"):
                yield Label(f"{name:<10}", classes="stage-name")
                yield ProgressBar(id=f"bar-{name}", show_eta=False)
                yield Label("", id=f"note-{name}", classes="stage-note")
        yield Static("ledger: no teacher calls yet", id="ledger")
        yield RichLog(id="log", wrap=True, markup=True, max_lines=500)
        with Horizontal(classes="row"):
            yield Button("Start / resume", id="start", variant="success")
            yield Button("Cancel", id="cancel", variant="error", disabled=True)
            yield Button("Results ▸", id="next", variant="primary", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#task-line", Static).update(f"[b]{self.app.config.task}[/]  →  {self.app.config.run_dir()}")
        self.show_ledger()  # now, not only at the first tick: what the screen shows does not depend on how soon that comes
        self.set_interval(0.5, self.show_ledger)
        if self.start_now:
            self.start()

    @on(Button.Pressed, "#start")
    def start(self) -> None:
        self.progress = TuiProgress(self)
        if self.app.build_pipeline(self.progress) is None:
            return
        self.query_one("#start", Button).disabled = True
        self.query_one("#cancel", Button).disabled = False
        self.run_pipeline()

    @work(thread=True, exclusive=True, group="run")
    def run_pipeline(self) -> None:
        try:
            self.app.pipeline.run()
        except P2MError as error:  # RunCancelled, budget, bad input: the CLI's one-line messages
            self.app.call_from_thread(
                self.stopped, str(error), "warning" if isinstance(error, RunCancelled) else "error"
            )
            return
        self.app.call_from_thread(self.finished)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if self.progress:
            self.progress.cancel.set()
            self.write("[yellow]cancelling at the next step…[/]")

    def stopped(self, message: str, severity: str) -> None:
        self.app.notify(message, severity=severity, timeout=10)
        self.write(f"[{'yellow' if severity == 'warning' else 'red'}]{message}[/]")
        self.query_one("#start", Button).disabled = False
        self.query_one("#cancel", Button).disabled = True

    def finished(self) -> None:
        self.write("[green]done[/]")
        self.query_one("#cancel", Button).disabled = True
        self.query_one("#next", Button).disabled = False
        self.app.push_screen(ResultsScreen())

    def stage_started(self, name: str) -> None:
        self.query_one(f"#note-{name}", Label).update("running")

    def stage_finished(self, name: str, skipped: bool, seconds: float) -> None:
        bar = self.query_one(f"#bar-{name}", ProgressBar)
        bar.update(total=bar.total or 1, progress=bar.total or 1)
        self.query_one(f"#note-{name}", Label).update("up to date" if skipped else f"done {seconds:.1f}s")

    def task(self, stage: str, description: str, total: int | None) -> None:
        self.query_one(f"#bar-{stage}", ProgressBar).update(total=total, progress=0)
        self.query_one(f"#note-{stage}", Label).update(description)

    def advance(self, stage: str, n: int, info: dict) -> None:
        self.query_one(f"#bar-{stage}", ProgressBar).advance(n)
        if info:
            self.query_one(f"#note-{stage}", Label).update(" ".join(f"{k} {v}" for k, v in info.items()))

    def write(self, message: str) -> None:
        self.query_one("#log", RichLog).write(message)

    def show_ledger(self) -> None:
        if self.app.pipeline is None:
            return
        ledger = self.app.pipeline.teacher.ledger
        cost = f"${ledger.cost_usd:.4f}" if ledger.cost_usd is not None else "no charge"
        self.query_one("#ledger", Static).update(
            f"ledger: {ledger.calls} calls, {ledger.cache_hits} cache hits, "
            f"{ledger.prompt_tokens + ledger.completion_tokens:,} tokens, {cost}"
        )

    def action_next(self) -> None:
        if not self.query_one("#next", Button).disabled:
            self.app.push_screen(ResultsScreen())


class ResultsScreen(WizardScreen):
    """Teacher vs student with confidence intervals, latency and size, sample predictions, where
    everything is, and a box that runs the student on typed text."""

    STEP = 5

    def __init__(self):
        super().__init__()
        self.student = None  # the trained Student, loaded on the first try-it request

    def body(self) -> ComposeResult:
        yield Static("", id="summary")
        table = DataTable(id="comparison", cursor_type="none")
        table.can_focus = False
        yield table
        yield Label("Sample predictions (right ✓ and wrong ✗)")
        samples = DataTable(id="samples", cursor_type="row")
        samples.add_columns("", "input", "gold", "teacher", "student")
        yield samples
        yield Static("", id="paths")
        yield Label("Try it: type an input and press enter")
        yield Input(placeholder="e.g. a review to classify", id="try")
        yield Static("", id="answer")

    def on_mount(self) -> None:
        run_dir = self.app.config.run_dir()
        report = read_json(run_dir / run_paths.REPORT_JSON)
        columns, rows = comparison_rows(report["teacher"], report["student"], report.get("baselines"))
        table = self.query_one("#comparison", DataTable)
        table.add_columns(*columns)
        for row in rows:
            table.add_row(*row)
        self.query_one("#summary", Static).update(
            f"[b]{report['task']}[/]  ·  n={report['n_test']} held-out items\n{verdict(report)}"
        )
        rows = read_jsonl(run_dir / run_paths.EVAL_PREDICTIONS)
        right = [r for r in rows if r["student"] == r["gold"]][:4]
        wrong = [r for r in rows if r["student"] != r["gold"]][:4]
        samples = self.query_one("#samples", DataTable)
        for row in right + wrong:
            samples.add_row(
                "✓" if row in right else "✗",
                row["input"][:36],
                row["gold"][:12],
                row["teacher"][:12],
                row["student"][:12],
            )
        paths = report["paths"]
        self.query_one("#paths", Static).update(f"model: {paths['model']}\nreport: {paths['report']}")
        self.query_one("#try", Input).focus()

    @on(Input.Submitted, "#try")
    def try_it(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.query_one("#answer", Static).update("[dim]thinking…[/]")
            self.predict(event.value.strip())

    @work(thread=True, exclusive=True, group="try")
    def predict(self, text: str) -> None:
        from p2m.student.model import Student

        if self.student is None:
            self.student = Student(self.app.config.run_dir() / run_paths.MODEL)
        answer = self.student.predict([text])[0]
        self.app.call_from_thread(self.query_one("#answer", Static).update, f"student: [b]{answer}[/]")

    def action_next(self) -> None:
        self.query_one("#try", Input).focus()
