"""Progress sinks: the pipeline reports to one of these; the CLI draws it with rich, the TUI with
Textual widgets, the Python API stays silent by default."""

from __future__ import annotations


class Progress:
    """Silent sink; subclasses draw. `total=None` means indeterminate."""

    def stage_started(self, name: str) -> None: ...

    def stage_finished(self, name: str, skipped: bool, seconds: float) -> None: ...

    def task(self, description: str, total: int | None) -> None: ...

    def advance(self, n: int = 1, **info) -> None: ...

    def log(self, message: str) -> None: ...

    def close(self) -> None: ...
