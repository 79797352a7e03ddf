"""What a run will spend, said before anything is spent: the CLI's confirmation and the TUI's Plan
screen both show this one estimate."""

from __future__ import annotations

from p2m.config import RunConfig, load_texts
from p2m.task_text import heuristic_spec, looks_like_classification
from p2m.tasks import TaskType, kind_of
from p2m.teacher.choice import backend_kind

TOKENS_PER_CALL = (400, 60)  # prompt, completion: typical of p2m's requests


def estimate_spend(config: RunConfig, price_per_mtok: tuple[float, float] | None, can_score: bool) -> dict:
    """Teacher calls, tokens and cost of a run from an empty cache, before anything is spent: parse,
    HyDE, a list of subjects per label (a text task: one list), a classifier's label descriptions, one
    generation per example, then verify and evaluate by task. A classifier whose teacher
    scores text costs L label likelihoods per example (2L with the channel verifier) and a greedy answer
    per held-out item; otherwise 1 + votes answers per example (held-out ones re-used by evaluate), and
    as many judge calls for text outputs. L comes from the description's own label list (else 4);
    --unlabeled inputs are verified as examples are."""
    n = config.num_examples
    read = heuristic_spec(config.task)
    task_type = read.get("task_type") or (TaskType.CLASSIFICATION if looks_like_classification(config.task) else None)
    if task_type and kind_of(task_type).labelled:
        labels = len(read.get("labels") or []) or 4
        verified = n + (len(load_texts(config.unlabeled)) if config.unlabeled else 0)
        verify = verified * labels * (1 + config.channel_verifier) if can_score else verified * (1 + config.votes)
        evaluate = round(verified * config.test_fraction) + len(config.examples) if can_score else len(config.examples)
        setup = 3 + (labels if config.subjects_per_label else 0)  # + a list of subjects per label
    else:
        verify, evaluate, setup = 2 * n * (1 + config.votes), len(config.examples), 2 + bool(config.subjects_per_label)
    calls = setup + n + verify + evaluate
    prompt_tokens, completion_tokens = calls * TOKENS_PER_CALL[0], calls * TOKENS_PER_CALL[1]
    cost = (prompt_tokens * price_per_mtok[0] + completion_tokens * price_per_mtok[1]) / 1e6 if price_per_mtok else None
    return {"calls": calls, "tokens": prompt_tokens + completion_tokens, "cost_usd": cost}


def planned_spend(config: RunConfig) -> dict:
    """`estimate_spend` for the teacher these options choose, without building it: the TUI's Plan
    screen, as the options change. The same choice `build_teacher` makes, so the same terms."""
    if backend_kind(config) != "openai":
        return estimate_spend(config, None, can_score=True)
    from p2m.teacher.openai_compat import DEFAULT_MODEL, PRICES  # the openai library, only for an API teacher

    model = DEFAULT_MODEL if config.teacher in ("auto", "embedded") and not config.teacher_base_url else config.teacher
    return estimate_spend(config, PRICES.get(model), can_score=False)
