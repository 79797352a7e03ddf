"""`p2m run` options generated from RunConfig: each field is an option, its docstring the help, its
annotation the type. A field added to RunConfig with a docstring is a CLI option with no change here;
`VALUE_FORMATS` only gives the few fields whose values are written in a format of their own."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import math
import textwrap
import types
import typing
from functools import cache

from p2m.config import CLASSIFIER_TUNINGS, LABEL_PRIORS, LORA_MODES, METHODS, RunConfig

VALUE_FORMATS = {  # field -> argparse options beyond what its annotation says
    "task": {"positional": True},
    "examples": {"skip": True},  # the CLI reads --examples FILE (cli/__init__.py)
    "out": {"metavar": "DIR"},
    "teacher_base_url": {"metavar": "URL"},
    "teacher_concurrency": {"metavar": "N"},
    "catalog": {"metavar": "FILE"},
    "datasets": {"metavar": "SRC"},
    "max_params": {"type": "count", "metavar": "N"},
    "wmss_weights": {"type": "floats", "metavar": "A,B,G"},
    "method": {"choices": METHODS},
    "lora": {"choices": LORA_MODES},
    "classifier_tuning": {"choices": CLASSIFIER_TUNINGS},
    "label_prior": {"choices": LABEL_PRIORS},
    "push_to_hub": {"metavar": "REPO"},
    "push_dataset_to_hub": {"metavar": "REPO"},
    "budget_usd": {"metavar": "USD"},
}


def parse_count(text: str) -> int:
    """'150M', '1.5B', '20000' -> an integer."""
    scale = {"k": 1e3, "m": 1e6, "b": 1e9}.get(text[-1:].lower(), 1)
    try:
        value = float(text[:-1] if scale != 1 else text) * scale
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"not a count: {text!r} (e.g. 150M, 1B)")
    return int(value)


def parse_floats(text: str) -> list[float]:
    """'1,1,0.5' -> [1.0, 1.0, 0.5]."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = [math.nan]
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}")
    return values


FORMATS = {"count": parse_count, "floats": parse_floats}
METAVARS = {int: "N", float: "X"}  # str options show their name


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string right after its annotation), the class's bases included."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__[:-1]):
        try:
            body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        except (OSError, TypeError):
            continue  # no source (built in): no help text
        for node, after in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
            ):
                docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


def argument(field: dataclasses.Field, annotation, default, help_text: str) -> tuple[list[str], dict]:
    """argparse's name and keyword arguments for one RunConfig field."""
    extra = dict(VALUE_FORMATS.get(field.name, {}))
    if extra.pop("positional", False):
        return [field.name], {"help": help_text, "nargs": "?", "default": ""}  # or --task-file
    kind = (
        next((a for a in typing.get_args(annotation) if a is not type(None)), annotation)
        if isinstance(annotation, types.UnionType)
        else annotation
    )
    options: dict = {"dest": field.name, "help": help_text}
    if kind is bool:  # a switch that is on by default is turned off with --no-NAME
        options.update(action=argparse.BooleanOptionalAction if default else "store_true", default=default)
    elif typing.get_origin(kind) is list and "type" not in extra:
        options.update(action="append", default=[], type=typing.get_args(kind)[0], metavar=extra.pop("metavar", None))
    else:
        options.update(type=FORMATS.get(extra.pop("type", None), kind), default=default, metavar=METAVARS.get(kind))
    options.update(extra)
    return [f"--{field.name.replace('_', '-')}"], options


def add_config_options(
    parser: argparse.ArgumentParser, cls: type = RunConfig, only: tuple[str, ...] | None = None
) -> None:
    """An option for every field of `cls` (or those named in `only`), help from its docstring."""
    defaults, docs, hints = cls(task=""), field_docs(cls), typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if (only and field.name not in only) or VALUE_FORMATS.get(field.name, {}).get("skip"):
            continue
        default = getattr(defaults, field.name)
        shown = f" (default: {default})" if default not in (None, "", [], False) else ""
        help_text = (docs.get(field.name, "") + shown).replace("%", "%%")
        names, options = argument(field, hints[field.name], default, help_text)
        parser.add_argument(*names, **options)
