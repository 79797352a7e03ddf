"""Typed teacher answers: ask for JSON, validate it at the boundary, and on failure send the error back
for a bounded number of repair tries (the instructor pattern). A weak teacher often needs the repair."""

from __future__ import annotations

import json
import re
from typing import Callable, TypeVar

from p2m import prompts
from p2m.llm import ChatRequest, Teacher

T = TypeVar("T")


class InvalidAnswer(ValueError):
    """The teacher's answer is not usable; the message says why and is shown to the teacher."""


def extract_json(text: str) -> dict:
    """The first JSON object in a reply (models wrap JSON in prose or code fences)."""
    match = re.search(r"\{.*\}", text, re.S)
    if not match:
        raise InvalidAnswer("no JSON object in the reply")
    try:
        return json.loads(match.group(0))
    except json.JSONDecodeError as error:
        raise InvalidAnswer(f"invalid JSON: {error.msg} at character {error.pos}") from None


def ask_json(teacher: Teacher, messages: tuple, schema: dict, validate: Callable[[dict], T], repairs: int = 2,
             max_tokens: int = 400) -> tuple[T | None, list[str]]:
    """`validate(parsed JSON)` of the teacher's answer (or None after `repairs` failed repairs), and
    the errors met on the way. `validate` raises `InvalidAnswer` (or a subclass of ValueError)."""
    errors: list[str] = []
    for attempt in range(repairs + 1):
        reply = teacher.ask(ChatRequest(messages=messages, max_tokens=max_tokens, seed=attempt, json_schema=schema)).text
        try:
            return validate(extract_json(reply)), errors
        except ValueError as error:
            errors.append(str(error))
            _, fix = prompts.render("repair_json", error=str(error), reply=reply[:1500])
            messages = messages + (("assistant", reply), ("user", fix))
    return None, errors
