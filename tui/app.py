"""`p2m tui`: a Textual wizard over the same `Pipeline` the CLI and the Python API drive.

Screens, in order: Task -> Spec -> Model & data -> Plan -> Run -> Results. The app holds the run's
`RunConfig`; each screen edits part of it. Pipeline work (parsing, the run) happens in worker threads,
so the UI never blocks; user errors arrive as notifications with the CLI's one-line messages.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Markdown

from p2m import run_paths
from p2m.config import RunConfig
from p2m.errors import P2MError
from p2m.files import read_json
from p2m.spec import TaskSpec
from p2m.tui.running import ResultsScreen, RunScreen
from p2m.tui.wizard import TaskScreen

HELP = """\
# p2m: keys

| key | does |
|---|---|
| `ctrl+n` | next screen (or the screen's main action) |
| `escape` | previous screen |
| `tab` / `shift+tab` | move between fields and buttons |
| `enter` | press the focused button, submit a field |
| `ctrl+q` | quit (a running pipeline is cancelled; finished work is kept) |
| `f1` or `?` | this help (`?` where no text field has the focus) |

Screens: **Task** (what the model should do, and examples), **Spec** (the parsed task, editable),
**Model & data** (student and datasets), **Plan** (teacher, size, budget and the estimate), **Run**
(live progress, cancel), **Results** (teacher vs student, samples, try it). `p2m tui RUN_DIR`
reopens a run where it stopped.
"""


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(HELP)
            yield Footer()


class P2MApp(App):
    """The wizard. `run_dir`: open an existing run (at Results if it finished, else at Run)."""

    CSS_PATH = Path(__file__).with_name("p2m.tcss")  # absolute: subclasses elsewhere (tests) find it too
    TITLE = "p2m"
    SUB_TITLE = "prompt to model"
    BINDINGS = [
        Binding("f1,question_mark", "help", "help", key_display="f1 ?"),
        Binding("ctrl+q", "quit", "quit", priority=True),
    ]

    def __init__(self, run_dir: str | None = None, teacher: str = "auto"):
        super().__init__()
        self.run_dir = run_dir
        self.config = RunConfig(task="", out=run_dir, teacher=teacher)
        self.pipeline = None  # the Pipeline of the run being planned or run; built once the task is known
        self.spec: TaskSpec | None = None  # the spec as confirmed on the Spec screen

    def on_mount(self) -> None:
        path = Path(self.run_dir) if self.run_dir else None
        if path and (path / run_paths.CONFIG).exists():
            self.config = RunConfig(**{**read_json(path / run_paths.CONFIG), "out": str(path)})
            finished = (path / run_paths.REPORT_JSON).exists()
            self.push_screen(ResultsScreen() if finished else RunScreen())
        else:
            self.push_screen(TaskScreen())

    def build_pipeline(self, progress=None):
        """A fresh Pipeline for the current config; errors become notifications (None returned)."""
        from p2m.pipeline import Pipeline

        try:
            self.config.check()
            self.pipeline = Pipeline(self.config, progress)
        except P2MError as error:
            self.notify(str(error), severity="error", timeout=8)
            return None
        return self.pipeline

    def start_run(self) -> None:
        """The Plan screen's last step: a pipeline for the planned config, run on the Run screen."""
        if self.build_pipeline() is not None:
            self.push_screen(RunScreen(start=True))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())


def main(run_dir: str | None = None) -> None:
    P2MApp(run_dir).run()
