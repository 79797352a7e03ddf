"""How an extraction input reads: its question and its passage, and the spans of the passage.

An input is "Context: <passage> Question: <question>" in either order (reading comprehension); an input
without those markers is the passage itself and the task's instruction is the question ("Extract the
company name" over an email). Synthesis, verification and the span student all read inputs this way."""

from __future__ import annotations

import re

_QUESTION = re.compile(r"\bquestion\s*:\s*", re.I)
_PASSAGE = re.compile(r"\b(?:context|passage|paragraph|text|article)\s*:\s*", re.I)
_EDGE = " \t\n.,;:!?\"'`“”‘’()[]"


def split_input(text: str, instruction: str) -> tuple[str, str]:
    """(question, passage): the marked parts of "Context: ... Question: ..." (either order), else the
    instruction as the question and the whole input as the passage."""
    question, passage = _QUESTION.search(text), _PASSAGE.search(text)
    if not question or not passage:
        return instruction, text.strip()
    if passage.start() < question.start():
        return text[question.end() :].strip(), text[passage.end() : question.start()].strip()
    return text[question.end() : passage.start()].strip(), text[passage.end() :].strip()


def has_passage_and_question(text: str) -> bool:
    """Whether an input marks both parts; a generated QA input missing one cannot be answered by a span."""
    return bool(_QUESTION.search(text) and _PASSAGE.search(text))


def question_comes_first(text: str) -> bool:
    """Whether a marked input puts its question before its passage."""
    question, passage = _QUESTION.search(text), _PASSAGE.search(text)
    return bool(question and passage and question.start() < passage.start())


def span_in_passage(answer: str, passage: str) -> str | None:
    """The passage's own text of `answer`: exact, else without edge punctuation, else ignoring case;
    None when the answer is not a span of the passage."""
    whole, bare = answer.strip(), answer.strip(_EDGE)
    for candidate in (whole, bare):
        if candidate and candidate in passage:
            return candidate
    for candidate in (bare, whole):
        start = passage.lower().find(candidate.lower()) if candidate else -1
        if start >= 0:
            return passage[start : start + len(candidate)]
    return None
