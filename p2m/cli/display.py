"""Rich rendering of pipeline progress, the pre-spend confirmation and the final summary."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bars
from rich.prompt import Confirm
from rich.table import Table

from p2m.metrics import comparison_rows, verdict
from p2m.progress import Progress


class RichProgress(Progress):
    """One line per finished stage, and a live bar for the step in progress."""

    def __init__(self, console: Console):
        self.console = console
        self.bars = Bars(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
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
    spend = pipeline.estimate()
    cost = f"about ${spend['cost_usd']:.3f}" if spend["cost_usd"] is not None else "no charge known"
    console.print(
        f"Teacher {pipeline.teacher.identity}: ~{spend['calls']} calls from an empty cache ({cost}); cached calls are free."
    )
    return Confirm.ask("Proceed?", default=True, console=console)


def comparison_table(title: str, teacher: dict, student: dict, caption: str, baselines: dict | None = None) -> Table:
    """Teacher vs student (and the baselines) on one 80-column screen."""
    if not student["metrics"]["all"].get("n"):
        return Table(title=title, caption="no held-out items to score; run p2m eval RUN_DIR --test FILE")
    columns, rows = comparison_rows(teacher, student, baselines)
    table = Table(title=title, caption=caption)
    for number, column in enumerate(columns):
        table.add_column(column, no_wrap=number == 1, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def summary_table(report: dict) -> Table:
    ledger = report["ledger"]
    caption = (
        f"n={report['n_test']} held-out items; teacher: {ledger['calls']} calls, {ledger['cache_hits']} cached, "
        f"{ledger['prompt_tokens'] + ledger['completion_tokens']} tokens\n{verdict(report)}\nreport: {report['paths']['report']}"
    )
    return comparison_table(
        f"p2m: {report['task']}", report["teacher"], report["student"], caption, report.get("baselines")
    )


def evaluation_table(result: dict, source: str) -> Table:
    diff = result.get("student_minus_teacher")
    caption = f"n={result['n']} items; {result['leakage']['test_items_near_a_training_input']} near a training input"
    if diff:
        low, high = diff["ci95"]
        caption += (
            f"; student - teacher {diff['metric']}: {diff['mean']:+.3f} [{low:+.3f}, {high:+.3f}] (paired bootstrap)"
        )
    if result["teacher"].get("readings"):
        caption += f"\nteacher reading: {result['teacher']['reading']} (stronger of {', '.join(result['teacher']['readings'])})"
    caption += f"\n{verdict(result)}"
    return comparison_table(
        f"p2m eval: {source}", result["teacher"], result["student"], caption, result.get("baselines")
    )


def retrieval_table(hits: list, title: str) -> Table:
    """Search results, best first; under each id, why it is there."""
    table = Table(title=title, show_lines=True)
    table.add_column("#", no_wrap=True)
    table.add_column("id and why", ratio=1, overflow="fold")
    for column in ("score", "arch", "params", "licence", "downloads"):
        table.add_column(
            column, no_wrap=True, justify="right" if column in ("score", "params", "downloads") else "left"
        )
    for rank, hit in enumerate(hits, 1):
        why = f"{hit.why}; matched {', '.join(hit.matched_terms) or 'nothing'}; {'; '.join(hit.constraints_passed)}"
        table.add_row(
            str(rank),
            f"[bold]{hit.id}[/]\n[dim]{why}[/]",
            f"{hit.score:.2f}",
            hit.arch,
            f"{hit.params / 1e6:.0f}M" if hit.params else "",
            hit.license,
            f"{hit.downloads:,}" if hit.downloads is not None else "",
        )
    if not hits:
        table.caption = "nothing passes the constraints; try without --max-params/--license, or add --catalog FILE"
    return table
