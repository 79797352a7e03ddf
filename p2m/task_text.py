"""The deterministic reading of a task description: task type, label names, Input/Output examples.

People name their labels in many shapes: "as X or Y", "into X, Y and Z", "one of these intents: ...",
"Labels: a, b", a bulleted list, "(x, y, z)", "x / y / z", "x|y", quoted names. The teacher reads them
too, but this reading must not depend on it: a weak or failing teacher then still gets the labels
right, and the two readings are compared (`stages/parse.py`).

Everything here scans line by line with simple patterns (no nested quantifiers), so a pathological
task text costs linear time.
"""

from __future__ import annotations

import re

_CLASSIFY = re.compile(
    r"\b(classif\w*|categori[sz]\w*|label\w*|tag|detect|identify|decide|tell whether|whether|is it|"
    r"sentiment|intents?|sort|route|pick|predict|which|says? if|yes or no|options?|emotion|spam)\b",
    re.I,
)
_EXTRACT = re.compile(
    r"\b(extract\w*|pull out|find the span|span of|answer[^.\n]{0,80}from the (?:given )?(?:passage|context|paragraph))",
    re.I,
)
_MATH = re.compile(r"\b(math\w*|arithmetic|word problems?|solve|calculate|compute)\b", re.I)
_GENERATE = re.compile(
    r"\b(convert\w*|translat\w*|rewrit\w*|summari[sz]\w*|generat\w*|paraphras\w*|normali[sz]\w*|write|"
    r"turn|compose|draft|reply)\b",
    re.I,
)
_PAIR = re.compile(
    r"^[ \t]*input[ \t]*:[ \t]*(\S.*?)[ \t]*\n[ \t]*(?:output|label|answer)[ \t]*:[ \t]*(\S.*?)[ \t]*$", re.I | re.M
)
_LIKE = re.compile(r"\blike\s+['\"]([^'\"\n]+)['\"]\s+(?:to|into|as)\s+[^\n]*?(\S+?)[.]?$", re.I)
_SUBJECT = re.compile(
    r"\b(?:classify|categori[sz]e|label|tag|convert|translate|summari[sz]e|rewrite)\s+(?:the\s+|each\s+|a\s+)?"
    r"([^.\n]+?)\s+(?:as|into|to|by|from|in)\b",
    re.I,
)
# A line that names the label set outright ("Labels: a, b", "Teams: x, y"), and a bullet item.
_NAMED_LIST = re.compile(
    r"^[ \t]*(?:the[ \t]+)?(?:labels?|classes|categories|options|choices|intents|tags|teams|classes)"
    r"[ \t]*[:=][ \t]*(.*)$",
    re.I | re.M,
)
_BULLET = re.compile(r"^[ \t]*(?:[-*•]|\d{1,2}[.)])[ \t]+(\S[^\n]*)$")
# Words after which a label list starts, strongest first.
_LIST_CUES = (
    re.compile(r"\bone of(?: these| the following)?(?: [a-z]+){0,2}\s*:?\s", re.I),
    re.compile(r"\b(?:label|class|category|option)s? from\s*:?\s", re.I),
    re.compile(
        r"\b(?:as|into|between|either|about|output|is|are|sounds?|looks?)\s+(?:either\s+)?(?:the (?:categories|classes|labels)\s+)?",
        re.I,
    ),
    re.compile(r"\banswer\s+(?=yes or no)", re.I),
    re.compile(r"[:(]\s*"),
)
_STOP = re.compile(r"[.;?!)\n]|:(?!\S)")
_SEPARATOR = re.compile(r",|\bor\b|\band\b|/|\|")
_SEPARATOR_KEPT = re.compile(r"(,|\bor\b|\band\b|/|\|)")
_MAX_LABEL_WORDS = 4
_MAX_LIST_CHARS = 600  # a label list is read from at most this far after its cue: linear time on any text


def split_list(text: str) -> list[str]:
    """'a, b or c' / 'a/b/c' / "'a' or 'b'" -> the items, quotes and bullet marks stripped. The list
    ends after the item that follows its 'or'/'and' ("a or b, and explain why" -> a, b), or where
    prose starts (an item of more than four words)."""
    items: list[str] = []
    final = False
    for piece in _SEPARATOR_KEPT.split(re.sub(r"\([^)]*\)", "", text)):
        if _SEPARATOR.fullmatch(piece.strip() or ","):
            final = final or piece.strip() in ("or", "and")
            continue
        item = piece.strip().strip("'\"`*“”‘’").strip().removeprefix("either ").strip()
        if not item:
            continue
        if len(item.split()) > _MAX_LABEL_WORDS:
            break
        items.append(item)
        if final:
            break
    return items


def _as_labels(text: str) -> list[str]:
    """The items of `text` if it reads as a label list (at least two short items), else []."""
    if not _SEPARATOR.search(text):
        return []
    items = split_list(text)
    return unique(items) if len(items) >= 2 else []


def _bullet_labels(lines: list[str]) -> list[str]:
    """The first run of two or more bullet lines, as labels (descriptions after ':' or ' - ' dropped)."""
    run: list[str] = []
    for line in lines + [""]:
        match = _BULLET.match(line)
        if match:
            run.append(re.split(r":\s| - ", match.group(1), maxsplit=1)[0].strip().strip("'\"`*").strip())
        elif len(run) >= 2 and all(len(item.split()) <= _MAX_LABEL_WORDS for item in run):
            return unique(run)
        else:
            run = []
    return []


def _cued_labels(text: str) -> list[str]:
    """Labels after a cue word ("as", "into", "one of these intents:", "(", ":"), strongest cue first."""
    for cue in _LIST_CUES:
        for match in cue.finditer(text):
            rest = text[match.end() : match.end() + _MAX_LIST_CHARS]
            stop = _STOP.search(rest)
            labels = _as_labels(rest[: stop.start()] if stop else rest)
            if labels:
                return labels
    return []


def read_labels(task: str) -> tuple[list[str], bool]:
    """(labels, stated outright): a named list or a bulleted list is outright; a list found after a
    cue word counts only where the text also names a labelling task."""
    if match := _NAMED_LIST.search(task):
        labels = _as_labels(match.group(1)) or _bullet_labels(task[match.end() :].splitlines())
        if labels:
            return labels, True
    if labels := _bullet_labels(task.splitlines()):
        return labels, True
    return _cued_labels(task), False


def heuristic_spec(task: str) -> dict:
    """A best-effort spec from the description's surface form; fields it cannot read with confidence
    are left out, so the teacher's reading fills them."""
    out: dict = {}
    pairs = _PAIR.findall(task)
    body = _PAIR.sub("", task).strip()
    first_sentence = re.split(r"(?<=[.!?])\s|\n", body, maxsplit=1)[0].strip()
    if first_sentence:
        out["instruction"] = first_sentence
    labels, outright = read_labels(body)
    if len(labels) >= 2 and (outright or _CLASSIFY.search(body)):
        out["task_type"] = "classification"
        out["labels"] = labels
    elif _EXTRACT.search(body):
        out["task_type"] = "extraction"
    elif _MATH.search(body):
        out["task_type"] = "math"
    elif _GENERATE.search(body):
        out["task_type"] = "generation"
    # The lazy patterns below get bounded text with single spaces: a run of spaces would let their
    # nested \s+ backtrack cubically on a long run of spaces.
    opening = re.sub(r"\s+", " ", first_sentence)[:_MAX_LIST_CHARS]
    if m := _SUBJECT.search(opening):
        out["input_description"] = re.sub(r"\s+like\s+.*$", "", m.group(1)).strip()
    if m := _LIKE.search(opening):  # "Convert dates like 'March 3, 2021' to ISO 2021-03-03"
        pairs.append((m.group(1), m.group(2)))
    if pairs:
        out["examples"] = [{"input": i.strip(" '\""), "output": o.strip(" '\"")} for i, o in pairs]
    return out


def looks_like_classification(text: str) -> bool:
    """Words that name a labelling task ('classify', 'sentiment', 'intent'), labels listed or not."""
    return bool(_CLASSIFY.search(text))


def unique(items: list[str]) -> list[str]:
    """Items in order, case-insensitive duplicates dropped."""
    seen, out = set(), []
    for item in items:
        if item.lower() not in seen:
            seen.add(item.lower())
            out.append(item)
    return out
