"""Prompt files. Each chat prompt `NAME.txt` holds a system message, a line `---`, then the user message;
other templates (the model card) are filled whole. `$name` placeholders are filled with
`string.Template`, so JSON braces in prompts need no escaping. `recorded()` says which files a block of
code read: the pipeline keeps each stage's in stages.json, and the tests hold them to the stage's
declared `prompt_files` (which its fingerprint hashes)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from string import Template

_DIR = Path(__file__).parent
_recorders: list[set[str]] = []


@contextmanager
def recorded() -> Iterator[set[str]]:
    """The names of the prompt files rendered, filled or listed inside the block."""
    names: set[str] = set()
    _recorders.append(names)
    try:
        yield names
    finally:
        _recorders.remove(names)


def _used(name: str) -> None:
    for names in _recorders:
        names.add(name)


@cache
def _read(name: str) -> tuple[str, str]:
    text = (_DIR / f"{name}.txt").read_text()
    system, _, user = text.partition("\n---\n")
    return system.strip(), user.strip()


def render(name: str, **values) -> tuple[str, str]:
    """(system, user) for prompt NAME with its placeholders filled; a missing value is a KeyError."""
    _used(name)
    system, user = _read(name)
    return Template(system).substitute(values), Template(user).substitute(values)


def chat(name: str, shots: list[tuple[dict, str]] = (), **values) -> tuple[tuple[str, str], ...]:
    """Messages for prompt NAME: its system message, few-shot turns, then its user message. Each shot
    is (values that differ for that shot, the assistant's answer); its user turn is the same template.
    Small chat models follow examples given as earlier turns far better than inline ones."""
    system, user = render(name, **values)
    messages = [("system", system)] if system else []
    for shot_values, answer in shots:
        messages += [("user", render(name, **{**values, **shot_values})[1]), ("assistant", answer)]
    return tuple(messages + [("user", user)])


def fill(name: str, **values) -> str:
    """A whole-file template that is not a chat prompt (e.g. the model card)."""
    _used(name)
    return Template((_DIR / f"{name}.txt").read_text()).substitute(values)


def digest(names: tuple[str, ...]) -> str:
    """Hash of the named prompt files, so editing a prompt invalidates the stages that use it."""
    text = "".join((_DIR / f"{name}.txt").read_text() for name in names)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def lines(name: str) -> list[str]:
    """A list file (one item per line, # comments), e.g. the diversity attributes."""
    _used(name)
    text = (_DIR / f"{name}.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
