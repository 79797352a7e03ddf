"""Rich rendering of pipeline progress, the pre-spend confirmation and the final summary."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bars, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.prompt import Confirm
from rich.table import Table

from p2m.metrics import headline
from p2m.progress import Progress


class RichProgress(Progress):
    """One line per finished stage, and a live bar for the step in progress."""

    def __init__(self, console: Console):
        self.console = console
        self.bars = Bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                         TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console, transient=True)
        self.stage = ""
        self.current = None

    def stage_started(self, name: str) -> None:
        self.stage = name
        self.bars.start()  # a no-op once live; one live display for the whole run avoids blank lines

    def task(self, description: str, total: int | None) -> None:
        if self.current is not None:
            self.bars.remove_task(self.current)
        self.current = self.bars.add_task(f"{self.stage}: {description}", total=total, info="")

    def advance(self, n: int = 1, **info) -> None:
        if self.current is not None:
            fields = {"info": " ".join(f"{k} {v}" for k, v in info.items())} if info else {}
            self.bars.update(self.current, advance=n, **fields)

    def log(self, message: str) -> None:
        self.console.print(f"  [dim]{message}[/]")

    def stage_finished(self, name: str, skipped: bool, seconds: float) -> None:
        if self.current is not None:
            self.bars.remove_task(self.current)
            self.current = None
        self.console.print(f"[dim]· {name}: up to date[/]" if skipped else f"[green]✓[/] {name} [dim]{seconds:.1f}s[/]")


    def close(self) -> None:
        self.bars.stop()


def confirm(console: Console, pipeline) -> bool:
    """Show the planned teacher spend and ask before making calls."""
    config = pipeline.config
    calls = 3 + config.num_examples * (2 + config.votes)
    price = pipeline.teacher.backend.price_per_mtok
    cost = f"about ${calls * (400 * price[0] + 60 * price[1]) / 1e6:.3f}" if price else "no charge known"
    console.print(f"Teacher {pipeline.teacher.identity}: up to ~{calls} calls ({cost}); cached calls are free.")
    return Confirm.ask("Proceed?", default=True, console=console)


def summary_table(report: dict) -> Table:
    table = Table(title=f"p2m: {report['task']}", caption=f"report: {report['paths']['report']}  model: {report['paths']['model']}")
    for column in ("", "model", f"metric on {report['n_test']} held-out items (95% CI)", "params", "ms/example"):
        table.add_column(column)
    for role in ("teacher", "student"):
        side = report[role]
        params = f"{side['params'] / 1e6:.1f}M" if side.get("params") else "?"
        table.add_row(role, side["model"], headline(side["metrics"]["all"]), params, f"{side['latency_ms']:.1f}")
    ledger = report["ledger"]
    table.add_section()
    table.add_row("teacher calls", f"{ledger['calls']} live, {ledger['cache_hits']} cached",
                  f"{ledger['prompt_tokens'] + ledger['completion_tokens']} tokens", "", "")
    return table
