"""The frame every wizard screen shares: the step line, the body, the footer, and the keys."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Static

STEPS = ("Task", "Spec", "Model & data", "Plan", "Run", "Results")


class WizardScreen(Screen):
    """A step of the wizard: a title line with the step, `ctrl+n` onwards, `escape` back."""

    STEP = 0
    BINDINGS = [Binding("ctrl+n", "next", "next"), Binding("escape", "back", "back")]

    def compose(self) -> ComposeResult:
        yield Header()
        steps = "  ".join(f"[b reverse] {n} [/]" if i == self.STEP else f"[dim]{n}[/]" for i, n in enumerate(STEPS))
        yield Static(steps, id="steps")
        with VerticalScroll(id="body"):
            yield from self.body()
        yield Footer()

    def body(self) -> ComposeResult:
        yield from ()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    @on(Button.Pressed, "#next")
    def _next_button(self) -> None:
        self.action_next()

    def fail(self, error: Exception) -> None:
        self.app.notify(str(error), severity="error", timeout=8)
