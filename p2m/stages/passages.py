"""Reading-comprehension candidates for extraction: the teacher lists article titles field by field,
writes a passage per title, then several questions per passage whose answers it copies out of the passage.

Why not one "write a Context/Question input" call, as other text tasks do: a small teacher copies the
user's examples, whose passages are one sentence, so every question has one candidate span; real
passages (SQuAD: ~120 words) hold many. Several questions per passage is also how SQuAD was built, and
the question writer's answer is a span checked here, then one more vote in the verify stage.
"""

from __future__ import annotations

import math
import random
from itertools import zip_longest

from p2m import prompts
from p2m.dedup import dedupe, normalize, overlap
from p2m.spec import TaskSpec
from p2m.stages.base import RunContext
from p2m.tasks.spans import has_passage_and_question, question_comes_first, span_in_passage, split_input
from p2m.teacher.calls import ChatRequest
from p2m.teacher.structured import InvalidAnswer, ask_json, json_request

QUESTIONS_PER_PASSAGE = 4
SUBJECTS_PER_FIELD = 8  # titles asked of each field; more passages than subjects reuse a subject with another seed
SUBJECTS_TOKENS = 16 * SUBJECTS_PER_FIELD + 40
PASSAGE_TOKENS = 260  # five to seven sentences
QUESTIONS_TOKENS = 60 * QUESTIONS_PER_PASSAGE
QUESTIONS_SCHEMA = {
    "type": "object",
    "properties": {
        "questions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
                "required": ["question", "answer"],
            },
        }
    },
    "required": ["questions"],
}
SUBJECTS_SCHEMA = {  # a list of subjects: here a field's, in synthesize.py a label's or a task's
    "type": "object",
    "properties": {"subjects": {"type": "array", "items": {"type": "string"}}},
    "required": ["subjects"],
}


def wants_passages(spec: TaskSpec) -> bool:
    """Extraction whose examples mark a passage and a question (reading comprehension). An extraction
    over plain inputs ("the company name in this email") keeps the one-call input generator."""
    return spec.kind.passage_inputs and any(has_passage_and_question(e.input) for e in spec.examples)


def input_text(spec: TaskSpec, passage: str, question: str) -> str:
    """The input in the order of the user's first marked example (question first, or passage first)."""
    first = next(e.input for e in spec.examples if has_passage_and_question(e.input))
    return (
        f"Question: {question}\nContext: {passage}"
        if question_comes_first(first)
        else f"Context: {passage}\nQuestion: {question}"
    )


def distinct_inputs(spec: TaskSpec, texts: list[str], exclude: list[str], near_duplicates: bool = True) -> list[int]:
    """Indices of inputs to keep: none close to an `exclude` text, and (with `near_duplicates`) the first
    of each near-duplicate group. Questions about one passage share it by design, so they are compared by
    their question alone."""
    if not near_duplicates:
        copied = set(overlap(texts, exclude))
        return [i for i in range(len(texts)) if i not in copied]
    if not wants_passages(spec):
        return dedupe(texts, exclude=exclude)
    parts = [split_input(text, spec.instruction) for text in texts]
    copied = set(overlap(texts, exclude))  # copies of a user example
    groups: dict[str, list[int]] = {}
    for i, (_, passage) in enumerate(parts):
        if i not in copied:
            groups.setdefault(normalize(passage), []).append(i)
    return sorted(group[j] for group in groups.values() for j in dedupe([parts[i][0] for i in group]))


def passage_subjects(ctx: RunContext, spec: TaskSpec, count: int, seed: int) -> list[str]:
    """Distinct subjects for `count` passages, one field's titles after another's (prompts/passage_fields.txt,
    in a seeded order), so passages spread over the fields before a field repeats; [] when no field
    gives a usable list. Why a call per field: asked for 40 subjects of any field at once, the embedded
    teacher repeated the prompt's category words until its reply was cut off, and every passage was
    then about "a topic of your choice"."""
    fields = prompts.lines("passage_fields")
    random.Random(seed).shuffle(fields)
    listings = [subject_messages(spec, field) for field in fields[:count]]
    validators = [subjects_validator(user) for _, (_, user) in listings]
    per_field = ask_json_batch(ctx, listings, SUBJECTS_SCHEMA, validators, SUBJECTS_TOKENS, "listing subjects")
    subjects: dict[str, str] = {}
    for subject in (s for row in zip_longest(*(titles or [] for titles in per_field)) for s in row if s):
        subjects.setdefault(normalize(subject), subject)
    return list(subjects.values())


def ask_json_batch(
    ctx: RunContext, messages: list[tuple], schema: dict, validators: list, max_tokens: int, description: str
) -> list:
    """`ask_json` for each conversation (None where it stays invalid); the first tries are asked in one
    batch (cached), so only an invalid reply costs a repair call of its own."""
    ctx.chat([json_request(m, schema, max_tokens) for m in messages], description)
    return [
        ask_json(ctx.teacher, m, schema, validate, max_tokens=max_tokens)[0]
        for m, validate in zip(messages, validators)
    ]


def subject_messages(spec: TaskSpec, field: str) -> tuple:
    system, user = prompts.render(
        "list_passage_subjects", instruction=spec.instruction, field=field, count=SUBJECTS_PER_FIELD
    )
    return ("system", system), ("user", user)


def subjects_validator(prompt: str):
    """Keeps distinct subjects that are not just words of the prompt ("person", "event")."""
    prompt_words = set(normalize(prompt).split())

    def validate(data: dict) -> list[str]:
        subjects = {
            normalize(s): " ".join(s.split())[:80]
            for s in data.get("subjects") or []
            if isinstance(s, str) and normalize(s) and not set(normalize(s).split()) <= prompt_words
        }
        if len(subjects) < 3:
            raise InvalidAnswer(
                'reply {"subjects": [...]} with at least 3 different article titles, each naming one specific thing'
            )
        return list(subjects.values())

    return validate


def question_messages(spec: TaskSpec, passage: str) -> tuple:
    system, user = prompts.render(
        "generate_questions", instruction=spec.instruction, passage=passage, count=QUESTIONS_PER_PASSAGE
    )
    return ("system", system), ("user", user)


def questions_validator(passage: str):
    """Keeps the (question, answer) pairs whose answer is a span of the passage, in the passage's own text."""

    def validate(data: dict) -> list[tuple[str, str]]:
        pairs = {}
        for item in data.get("questions") or []:
            question, answer = (
                str(item.get("question", "")).strip(),
                span_in_passage(str(item.get("answer", "")), passage),
            )
            if question.endswith("?") and answer and normalize(question) not in pairs:
                pairs[normalize(question)] = (question, answer)
        if not pairs:
            raise InvalidAnswer("each answer must be copied exactly from the passage, and each question end with '?'")
        return list(pairs.values())[:QUESTIONS_PER_PASSAGE]

    return validate


def passage_candidates(ctx: RunContext, spec: TaskSpec, count: int, seed: int) -> list[dict]:
    """About `count` candidate rows (ceil(count / QUESTIONS_PER_PASSAGE) passages), each with the
    question writer's span answer as `writer_answer`. Passages and first question attempts are asked
    in batches (cached), so only an invalid question list costs a repair call of its own."""
    n_passages = math.ceil(count / QUESTIONS_PER_PASSAGE)
    subjects = passage_subjects(ctx, spec, n_passages, seed) or ["a topic of your choice"]
    chosen = [subjects[i % len(subjects)] for i in range(n_passages)]
    requests = [
        ChatRequest(
            prompts.chat("generate_passage", subject=subject),
            temperature=0.8,
            max_tokens=PASSAGE_TOKENS,
            seed=seed * 100_003 + i,
        )
        for i, subject in enumerate(chosen)
    ]
    written = [
        (subject, " ".join(r.text.split())) for subject, r in zip(chosen, ctx.chat(requests, "writing passages"))
    ]
    written = [
        (subject, p) for subject, p in written if len(p.split()) >= 20
    ]  # an empty or cut-off reply holds no questions
    questions = ask_json_batch(
        ctx,
        [question_messages(spec, p) for _, p in written],
        QUESTIONS_SCHEMA,
        [questions_validator(p) for _, p in written],
        QUESTIONS_TOKENS,
        "writing questions",
    )
    rows = []
    for i, ((subject, passage), pairs) in enumerate(zip(written, questions)):
        for j, (question, answer) in enumerate(pairs or []):
            rows.append(
                {
                    "id": f"syn-{i}-{j}",
                    "style": "",
                    "subject": subject,
                    "input": input_text(spec, passage, question),
                    "writer_answer": answer,
                    "raw": passage,
                }
            )
    random.Random(seed).shuffle(rows)  # a cut at `count` keeps passages of every subject
    return rows[:count]
