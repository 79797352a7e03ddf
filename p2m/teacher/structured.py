"""Typed teacher answers: ask for JSON, validate it at the boundary, and on failure send the error back
for a bounded number of repair tries (the instructor pattern). A weak teacher often needs the repair."""

from __future__ import annotations

import dataclasses
import enum
import json
import typing
from collections.abc import Callable
from typing import TypeVar

from p2m import prompts
from p2m.teacher.calls import ChatRequest, Teacher

T = TypeVar("T")


class InvalidAnswer(ValueError):
    """The teacher's answer is not usable; the message says why and is shown to the teacher."""


def json_schema(cls: type, required: tuple[str, ...] | None = None, top_level: bool = True) -> dict:
    """The JSON schema of a dataclass answer type, from its field types (str, list, dict, nested
    dataclasses, a str Enum's values), and `{"answer": False}` for fields p2m fills in
    itself: the one description of the answer, used for the teacher's constrained decoding. The top
    level requires `required` (default: every answer field); nested objects are checked by the type's
    own validation."""
    hints = typing.get_type_hints(cls)

    def of(annotation) -> dict:
        if dataclasses.is_dataclass(annotation):
            return json_schema(annotation, top_level=False)
        if typing.get_origin(annotation) is list:
            return {"type": "array", "items": of(typing.get_args(annotation)[0])}
        if typing.get_origin(annotation) is dict:
            return {"type": "object", "additionalProperties": of(typing.get_args(annotation)[1])}
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return {"type": "string", "enum": [member.value for member in annotation]}
        return {"type": {str: "string", int: "integer", float: "number", bool: "boolean"}[annotation]}

    properties = {f.name: of(hints[f.name]) for f in dataclasses.fields(cls) if f.metadata.get("answer", True)}
    schema = {"type": "object", "properties": properties}
    return {**schema, "required": list(required or properties)} if top_level else schema


def extract_json(text: str) -> dict:
    """The first JSON object in a reply (models wrap JSON in prose or code fences)."""
    start, end = text.find("{"), text.rfind("}")  # what a greedy search for {.*} finds, in linear time
    if start == -1 or end < start:
        raise InvalidAnswer("no JSON object in the reply")
    try:
        return json.loads(text[start : end + 1])
    except json.JSONDecodeError as error:
        raise InvalidAnswer(f"invalid JSON: {error.msg} at character {error.pos}") from None
    except RecursionError:
        raise InvalidAnswer("JSON nested too deeply") from None


def json_request(messages: tuple, schema: dict, max_tokens: int, attempt: int = 0) -> ChatRequest:
    """The request `ask_json` sends on its `attempt`-th try: first tries asked ahead in one batch with
    these are what `ask_json` then finds in the cache."""
    return ChatRequest(messages=messages, max_tokens=max_tokens, seed=attempt, json_schema=schema)


def ask_json(
    teacher: Teacher,
    messages: tuple,
    schema: dict,
    validate: Callable[[dict], T],
    repairs: int = 2,
    max_tokens: int = 400,
) -> tuple[T | None, list[str]]:
    """`validate(parsed JSON)` of the teacher's answer (or None after `repairs` failed repairs), and
    the errors met on the way. `validate` raises `InvalidAnswer` (or a subclass of ValueError); a
    TypeError or AttributeError from it (a field of the wrong JSON type) counts as an invalid answer too."""
    errors: list[str] = []
    for attempt in range(repairs + 1):
        reply = teacher.ask(json_request(messages, schema, max_tokens, attempt)).text
        try:
            return validate(extract_json(reply)), errors
        except (ValueError, TypeError, AttributeError) as error:
            errors.append(str(error) or type(error).__name__)
            _, fix = prompts.render("repair_json", error=str(error), reply=reply[:1500])
            messages = messages + (("assistant", reply), ("user", fix))
    return None, errors
