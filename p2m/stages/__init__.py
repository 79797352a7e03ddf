"""The pipeline's stages, in order: the one list of them. Their names are read without importing the
stages (the CLI's --until, the TUI's progress bars); the classes, which bring torch and transformers,
are imported when a pipeline is built."""

from __future__ import annotations

import importlib

ORDER = (
    ("parse", "Parse"),
    ("retrieve", "Retrieve"),
    ("synthesize", "Synthesize"),
    ("verify", "Verify"),
    ("train", "Train"),
    ("evaluate", "Evaluate"),
    ("report", "Report"),
)  # (module in p2m/stages, class)
STAGE_NAMES = tuple(name for name, _ in ORDER)


def stage_classes() -> list[type]:
    return [getattr(importlib.import_module(f"p2m.stages.{module}"), cls) for module, cls in ORDER]
