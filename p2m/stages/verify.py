"""Verify: score every candidate with several weak verifiers, keep the good ones, split the data.

Classification: each verifier gives a distribution over labels, calibrated against its own label prior:
- intended: the label the input was written for (label-conditioned generation);
- teacher: the teacher's likelihood of each whole label after the input, where the backend can score
  text; otherwise its votes (greedy + sampled) and first-token probabilities. Scoring reads the label
  belief of a weak teacher that cannot follow the answer format (TREC: votes 0.13, likelihood 0.35);
- embedding: MiniLM similarity to label-name prototypes (with the labels' descriptions, and the user's examples);
- pool: MiniLM similarity to the other labelled inputs (candidates by intended label, user examples,
  real rows), the item itself left out;
- channel (`--channel-verifier`): the teacher's likelihood of the input after "Label: X" (noisy-channel
  prompting, Min et al. 2022), where the backend can score text -- a different use of the teacher than
  asking it, and the costliest verifier (the input is decoded once per label);
- keywords: word rules confirmed by the other verifiers' labels (see keyword_rules).
`label_model.weighted_pool` combines them, weighted by accuracies the Dawid-Skene model estimates
without gold labels (each verifier witnessed only by verifiers of other models, VERIFIER_MODEL); the target is the posterior's argmax and the example's score its probability.
With `--label-fidelity` (default) an example is kept only where the teacher's own reading agrees with
that target: the label model trusts the intended label, and a weak generator's off-label inputs
(TREC: "Who was the first president?" written as an entity question) would pass with it.
Generation: each of the teacher's k+1 answers is a candidate, scored by self-consistency with the
others, a format check against the user's examples and the teacher as judge; the best candidate becomes
the target. Math: only marked worked solutions of the number the k+1 agree on are candidates (no format
check: their ending is fixed), and the other candidates train beside the target (`--solutions-per-question`).
Extraction keeps only answers that are spans of the input's passage (and, where the user's examples
mark a passage and a question, only inputs that have both).

`--unlabeled` real inputs (classification) are scored by the same verifiers with no intended label and
kept or dropped by the same threshold: self-training on the user's own text.
Writes data/train.jsonl and data/test.jsonl (user examples always go to test, never to training),
data/rejected.jsonl with the reason for each drop, and data/verify_summary.json.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from p2m import prompts, run_paths
from p2m.config import load_texts
from p2m.dedup import dedupe, normalize, repeats_words
from p2m.files import read_jsonl, write_json, write_jsonl
from p2m.spec import TaskSpec
from p2m.stages.base import RunContext, Stage
from p2m.stages.passages import distinct_inputs, wants_passages
from p2m.stages.synthesize import generation_prompt
from p2m.tasks.spans import has_passage_and_question
from p2m.teacher.answers import label_requests, softmax_rows, teacher_requests
from p2m.teacher.calls import ChatRequest, ScoreRequest
from p2m.verifiers import label_model
from p2m.verifiers.embeddings import Embedder
from p2m.verifiers.keyword_rules import keyword_label_probs
from p2m.verifiers.signals import (
    aggregate,
    agreement,
    calibrate,
    degenerate,
    format_score,
    judge_yes_probability,
    label_from_reply,
    label_probs_from_logprobs,
    normalize_answer,
)

ABSTAIN_MARGIN = 0.1  # a verifier whose top two labels are closer than this abstains in the label model
# The model behind each verifier: verifiers of one model err together, so they do not vouch for each other;
# the keyword rules are learnt from the others' labels, so they vouch for none of them.
VERIFIER_MODEL = {
    "intended": "teacher",
    "teacher": "teacher",
    "channel": "teacher",
    "embedding": "minilm",
    "pool": "minilm",
    "keywords": label_model.DERIVED,
}


def channel_requests(spec: TaskSpec, texts: list[str]) -> list[ScoreRequest]:
    """One request per (text, label), text-major: log P(text | task, label)."""
    prefixes = [
        prompts.fill("channel", instruction=spec.instruction, label=label).rstrip() + " " for label in spec.labels
    ]
    return [ScoreRequest(prefix, text) for text in texts for prefix in prefixes]


def classification_evidence(
    spec: TaskSpec,
    texts: list[str],
    replies: list[list],
    embedder: Embedder,
    intended: list[str] | None = None,
    pool: list[tuple[str, str]] = (),
    own: list[int | None] | None = None,
    score: Callable[[list[ScoreRequest]], list[float]] | None = None,
    channel: bool = False,
) -> dict[str, list[dict[str, float]]]:
    """Each verifier's calibrated label distribution for each text. pool: labelled (text, label)
    pairs for the pool verifier, own[i] the index of texts[i] in it; score: the teacher's scorer;
    channel: also the channel verifier (needs score)."""
    labels = spec.labels
    uniform = {l: 1 / len(labels) for l in labels}
    prototypes = {
        l: spec.label_texts(l) + [f"{spec.input_description}: {l}"] + [e.input for e in spec.examples if e.output == l]
        for l in labels
    }
    sources = (
        {"intended": [{l: float(l == want) for l in labels} if want else uniform for want in intended]}
        if intended
        else {}
    )
    if score is not None:
        sources["teacher"] = calibrate(softmax_rows(score(label_requests(spec, texts)), labels))
    else:
        votes = [[label_from_reply(a.text, labels) for a in answers] for answers in replies]
        vote_share = [{l: v.count(l) / len(v) for l in labels} for v in votes]
        first_token = [label_probs_from_logprobs(a[0].top_logprobs, labels) or uniform for a in replies]
        sources["teacher"] = calibrate(
            [{l: (a[l] + b[l]) / 2 for l in labels} for a, b in zip(vote_share, first_token)]
        )
    sources["embedding"] = calibrate(embedder.label_probs(texts, prototypes))
    if pool:
        sources["pool"] = calibrate(embedder.pool_probs(texts, [t for t, _ in pool], [l for _, l in pool], labels, own))
    if score is not None and channel:
        sources["channel"] = calibrate(softmax_rows(score(channel_requests(spec, texts)), labels))
    others, _, _ = label_model.weighted_pool(sources, labels, ABSTAIN_MARGIN, VERIFIER_MODEL)
    confident = [max(p, key=p.get) if max(p.values()) >= 0.5 else None for p in others]
    sources["keywords"] = keyword_label_probs(texts, confident, labels)
    return sources


def ensembles(sources: dict[str, list[dict[str, float]]], labels: list[str]) -> tuple[list[dict], list[dict], dict]:
    """(a) the naive mean of the verifiers' distributions and (b) the label-model weighted pool; plus
    each verifier's estimated accuracy and their agreement."""
    n = len(next(iter(sources.values())))
    naive = [{l: aggregate({name: dists[i][l] for name, dists in sources.items()}) for l in labels} for i in range(n)]
    weighted, accuracies, votes = label_model.weighted_pool(sources, labels, ABSTAIN_MARGIN, VERIFIER_MODEL)
    diagnostics = {
        "estimated_accuracy": {name: round(a, 4) for name, a in accuracies.items()},
        "agreement": label_model.agreement_matrix(votes, list(sources)),
    }
    return naive, weighted, diagnostics


def score_classification(
    spec: TaskSpec,
    rows: list[dict],
    replies: list[list],
    embedder: Embedder,
    known: list[tuple[str, str]],
    score: Callable | None,
    channel: bool = False,
) -> dict:
    """Target = argmax of the weighted pool; score = its probability. known: labelled (input, label)
    pairs besides the candidates (user examples, real rows) for the pool verifier. Returns diagnostics."""
    labels = spec.labels
    written = [i for i, r in enumerate(rows) if r["intended_label"]]  # unlabelled real inputs join no pool
    pool = [(rows[i]["input"], rows[i]["intended_label"]) for i in written] + list(known)
    own: list[int | None] = [None] * len(rows)
    for position, i in enumerate(written):
        own[i] = position
    sources = classification_evidence(
        spec,
        [r["input"] for r in rows],
        replies,
        embedder,
        [r["intended_label"] for r in rows],
        pool,
        own,
        score,
        channel,
    )
    naive, weighted, diagnostics = ensembles(sources, labels)
    for i, row in enumerate(rows):
        target = max(labels, key=weighted[i].get)
        teacher = sources["teacher"][i]
        teacher_label = label_from_reply(replies[i][0].text, labels) if replies[i] else max(labels, key=teacher.get)
        row.update(
            output=target,
            teacher_label=teacher_label,
            score=round(weighted[i][target], 4),
            score_naive=round(naive[i][target], 4),
            scores={name: round(dists[i][target], 4) for name, dists in sources.items()},
            teacher_distribution={l: round(p, 4) for l, p in teacher.items()},
        )
    return diagnostics


def teacher_agrees(row: dict) -> bool:
    """Label fidelity: the teacher's calibrated reading of the input puts the kept label first."""
    distribution = row["teacher_distribution"]
    return max(distribution, key=distribution.get) == row["output"]


def candidate_answers(answers: list, kind: str) -> list[str]:
    """The teacher's answers as candidates: first line for short answers, the whole worked solution
    for numeric tasks (the number comes at the end)."""
    return [a.text.strip() if kind == "number" else a.text.split("\n")[0].strip() for a in answers]


def judge_requests(spec: TaskSpec, text: str, candidates: list[str]) -> list[ChatRequest]:
    """Teacher-as-judge, one yes/no token per candidate (with log-probabilities for P(yes))."""
    return [
        ChatRequest(
            prompts.chat("judge", instruction=spec.instruction, input=text, answer=c), max_tokens=1, top_logprobs=10
        )
        for c in candidates
    ]


def score_generation(
    spec: TaskSpec, rows: list[dict], candidates: list[list[str]], judgements: list[list], kind: str
) -> None:
    """Each candidate scored by self-consistency with the others, format and the judge's P(yes); the
    best one (the greedy answer on ties) becomes the target. Worked solutions (numbers) keep the other
    distinct ones that reach the target's number too, best first: more reasoning paths to train on."""
    examples = [(e.input, e.output) for e in spec.examples if e.output]
    for row, answers, judged in zip(rows, candidates, judgements):
        scored = []
        for j, answer in enumerate(answers):
            scores = {
                "self_consistency": agreement(answer, answers[:j] + answers[j + 1 :], kind),
                "judge": judge_yes_probability(judged[j].text, judged[j].top_logprobs),
            }
            if spec.kind.checks_format:
                scores["format"] = format_score(answer, row["input"], examples)
            scored.append((aggregate(scores), -j, answer, scores))
        (total, _, target, scores), *others = sorted(scored, reverse=True)
        row.update(output=target, score=round(total, 4), scores={k: round(v, 4) for k, v in scores.items()})
        if kind == "number":
            row["more_solutions"] = same_number_solutions(target, [(t, a) for t, _, a, _ in others])


def same_number_solutions(target: str, others: list[tuple[float, str]]) -> list[list]:
    """[score, solution] of each other answer that reaches the target's number, best first, each text once."""
    seen, found = {target}, []
    for score, answer in others:
        if answer not in seen and normalize_answer(answer, "number") == normalize_answer(target, "number"):
            seen.add(answer)
            found.append([round(score, 4), answer])
    return found


def with_more_solutions(
    train: list[dict], test: list[dict], per_question: int, threshold: float
) -> tuple[list[dict], list[dict]]:
    """Each worked-solution train row once more for each other solution of its question that passes the
    keep threshold, up to `per_question` rows a question (Ho et al. 2023: a small student reasons better
    from several of the teacher's paths than from one); a held-out row keeps its chosen answer only."""
    for row in test:
        row.pop("more_solutions", None)
    out = []
    for row in train:
        more = [m for m in row.pop("more_solutions", []) if m[0] >= threshold][: per_question - 1]
        out += [row] + [
            {**row, "id": f"{row['id']}-path{k}", "solution_of": row["id"], "output": answer, "score": score}
            for k, (score, answer) in enumerate(more, start=2)
        ]
    return out, test


def real_row(row: dict, spec: TaskSpec) -> dict:
    """A dataset row in the shape of a verified one: its label is given, so it is scored 1 and its
    'teacher distribution' (for soft-kd) is one-hot."""
    extra = {"teacher_distribution": {l: float(l == row["output"]) for l in spec.labels}} if spec.kind.labelled else {}
    return {**row, "score": 1.0, "scores": {}, **extra}


def split(rows: list[dict], test_fraction: float, seed: int, stratify: bool) -> tuple[list[dict], list[dict]]:
    """Held-out share per label (classification) or overall; deterministic in the seed."""
    rng = random.Random(seed)
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["output"] if stratify else "", []).append(row)
    train, test = [], []
    for group in groups.values():
        rng.shuffle(group)
        n_test = round(len(group) * test_fraction) if len(group) >= 3 else 0
        test += group[:n_test]
        train += group[n_test:]
    return train, test


def teacher_replies(ctx: RunContext, spec: TaskSpec, rows: list[dict], by_likelihood: bool) -> list[list]:
    """Each row's greedy and sampled teacher answers; none where the teacher's label likelihoods are
    read instead (its chat answers would be paid for and never read)."""
    if by_likelihood:
        return [[] for _ in rows]
    per_row = 1 + ctx.config.votes
    responses = ctx.chat(
        [q for row in rows for q in teacher_requests(spec, row["input"], ctx.config.votes)],
        "verifying with the teacher",
    )
    return [responses[i : i + per_row] for i in range(0, len(responses), per_row)]


def train_and_test(
    rows: list[dict], real: list[dict], spec: TaskSpec, test_fraction: float, seed: int
) -> tuple[list[dict], list[dict]]:
    """Kept synthetic rows split into train and held-out test; the user's examples always test, real
    rows always train (unless nothing else could be held out); no test input also in training."""
    for row in rows:
        row.setdefault("source", "synthetic")  # or "unlabeled": a real input the verifiers labelled
        row.pop("raw", None)
    stratify = spec.kind.labelled
    train, test = split(rows, test_fraction, seed, stratify)
    test += [
        {"id": f"user-{i}", "input": e.input, "output": e.output, "source": "user"}
        for i, e in enumerate(spec.examples)
        if e.output
    ]
    if test:
        train += real  # real rows train only: the held-out set measures the task as the user stated it
    else:  # trained on real rows alone (--num-examples 0, no examples): hold some out, so the run is evaluated
        real_train, test = split(real, test_fraction, seed, stratify)
        train += real_train
    test_inputs = {normalize(r["input"]) for r in test}
    return [r for r in train if normalize(r["input"]) not in test_inputs], test  # leakage guard, belt and braces


def unlabeled_rows(ctx: RunContext, spec: TaskSpec) -> list[dict]:
    """--unlabeled inputs as candidates the verifiers label from scratch (no intended label); classification only."""
    if not ctx.config.unlabeled:
        return []
    if not spec.kind.labelled:
        ctx.progress.log(
            f"--unlabeled is read by classification runs only; this is a {spec.task_type} run, so it is not used"
        )
        return []
    return [
        {"id": f"unlabeled-{i}", "input": text, "intended_label": None, "source": "unlabeled"}
        for i, text in enumerate(load_texts(ctx.config.unlabeled))
    ]


class Rejections:
    """The rows verification drops, each with its reason, in the order they were dropped (data/rejected.jsonl)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def keep(self, rows: list[dict], keep: list[int], reason: str) -> list[dict]:
        """The rows at the indices `keep`; the others are rejected for `reason`."""
        kept = set(keep)
        self.rows.extend({**row, "rejected": reason} for i, row in enumerate(rows) if i not in kept)
        return [row for i, row in enumerate(rows) if i in kept]

    def keep_if(self, rows: list[dict], test: Callable[[dict], bool], reason: str) -> list[dict]:
        """The rows that pass `test`; the others are rejected for `reason`."""
        return self.keep(rows, [i for i, row in enumerate(rows) if test(row)], reason)


def score_text_rows(
    ctx: RunContext, spec: TaskSpec, rows: list[dict], replies: list[list[str]], rejections: Rejections
) -> list[dict]:
    """Score text-task rows by their teacher answers' agreement and the teacher as judge.

    Only the answers the task kind calls learnable are candidates (extraction: spans; math: solutions of
    the agreed number), so the judge is never paid to rate an answer the student could not learn."""
    kind = spec.kind.answer_kind(spec)
    answers = [
        spec.kind.learnable_answers(spec, row, candidate_answers(replied, kind)) for row, replied in zip(rows, replies)
    ]
    keep = [i for i, a in enumerate(answers) if a]
    rows, answers = (
        rejections.keep(rows, keep, f"no answer of the teacher's {spec.kind.learnable}"),
        [answers[i] for i in keep],
    )
    judged = iter(
        ctx.chat(
            [q for row, a in zip(rows, answers) for q in judge_requests(spec, row["input"], a)], "teacher as judge"
        )
    )
    score_generation(spec, rows, answers, [[next(judged) for _ in a] for a in answers], kind)
    return rows


def screened(
    ctx: RunContext, spec: TaskSpec, candidates: list[dict], known_inputs: list[str], rejections: Rejections
) -> tuple[list[dict], int]:
    """The candidates (and --unlabeled inputs) worth scoring: no degenerate input, none that echoes its
    prompt, no duplicate or copy of a given example, and a passage with a question where one is wanted.
    Returns the rows and how many unlabeled inputs there were after the degenerate ones went."""
    min_words = spec.kind.min_input_words
    rows = rejections.keep_if(candidates, lambda r: not degenerate(r["input"], min_words), "degenerate input")
    if not wants_passages(spec):  # a passage's question is written from another prompt
        prompt_of = {label: generation_prompt(spec, label) for label in {r.get("intended_label") for r in rows}}
        rows = rejections.keep_if(
            rows,
            lambda r: not repeats_words(r["input"], prompt_of[r.get("intended_label")]),
            "repeats the generation prompt",
        )
    copies = "duplicate or copy of a given example"
    rows = rejections.keep(
        rows, distinct_inputs(spec, [r["input"] for r in rows], known_inputs, ctx.config.dedup), copies
    )
    unlabeled = rejections.keep_if(
        unlabeled_rows(ctx, spec), lambda r: not degenerate(r["input"], min_words), "degenerate input"
    )
    rows += rejections.keep(
        unlabeled, dedupe([r["input"] for r in unlabeled], exclude=known_inputs + [r["input"] for r in rows]), copies
    )
    if wants_passages(spec):
        rows = rejections.keep_if(rows, lambda r: has_passage_and_question(r["input"]), "no passage or no question")
    return rows, len(unlabeled)


def scored(
    ctx: RunContext, spec: TaskSpec, rows: list[dict], real: list[dict], rejections: Rejections
) -> tuple[list[dict], dict]:
    """The rows with their targets and scores that pass the keep threshold (and, for labels, the
    teacher's own reading: label fidelity); plus the label model's diagnostics."""
    by_likelihood = spec.kind.labelled and ctx.teacher.can_score
    replies = teacher_replies(ctx, spec, rows, by_likelihood)
    if spec.kind.labelled:
        ctx.progress.task("scoring with embeddings, the teacher's likelihoods and the label model", total=None)
        known = [(e.input, e.output) for e in spec.examples if e.output] + [(r["input"], r["output"]) for r in real]
        score = (lambda requests: ctx.score(requests, "teacher likelihoods")) if by_likelihood else None
        diagnostics = (
            score_classification(spec, rows, replies, Embedder(), known, score, ctx.config.channel_verifier)
            if rows
            else {}
        )
    else:
        rows, diagnostics = score_text_rows(ctx, spec, rows, replies, rejections), {}
    rows = rejections.keep_if(rows, lambda r: r["score"] >= ctx.config.keep_threshold, "score below threshold")
    if spec.kind.labelled and ctx.config.label_fidelity:
        rows = rejections.keep_if(rows, teacher_agrees, "the teacher's own reading is another label")
    return rows, diagnostics


def summary(
    spec: TaskSpec, counts: dict, rows: list[dict], train: list[dict], test: list[dict], rejected: list[dict]
) -> dict:
    """data/verify_summary.json: what came in, what was kept and why the rest went."""
    return {
        "candidates": counts["candidates"],
        "unlabeled_inputs": counts["unlabeled"],
        "kept": len(rows),
        "kept_unlabeled": sum(r["source"] == "unlabeled" for r in rows),
        "real_rows": counts["real"],
        "train": len(train),
        "train_more_solutions": sum("solution_of" in r for r in train),
        "test": len(test),
        "removed": dict(Counter(r["rejected"] for r in rejected)),
        "mean_scores": {
            name: round(sum(r["scores"][name] for r in rows) / len(rows), 4)
            for name in (rows[0]["scores"] if rows else {})
        },
        "train_label_counts": dict(Counter(r["output"] for r in train)) if spec.kind.labelled else None,
    }


class Verify(Stage):
    name = "verify"
    version = 20  # math keeps marked worked solutions of a number the teacher's solutions agree on
    config_fields = (
        "votes",
        "solutions_per_question",
        "channel_verifier",
        "keep_threshold",
        "label_fidelity",
        "dedup",
        "test_fraction",
        "seed",
    )
    uses_teacher = True
    prompt_files = (
        "classify",
        "answer",
        "solve",
        "channel",
        "label_likelihood",
        "judge",
        "generate_input",
        "generate_problem",
        "generate_input_for_label",
    )
    inputs = (run_paths.SPEC, run_paths.CANDIDATES, run_paths.RETRIEVED)
    outputs = (run_paths.TRAIN, run_paths.TEST, run_paths.REJECTED, run_paths.VERIFY_SUMMARY)

    def external_files(self, config) -> list[Path]:
        return [Path(config.unlabeled)] if config.unlabeled else []  # its contents, not its name, in the fingerprint

    def run(self, ctx: RunContext) -> None:
        spec = ctx.spec()
        candidates = read_jsonl(ctx.path(run_paths.CANDIDATES))
        rejections = Rejections()
        real = [real_row(r, spec) for r in read_jsonl(ctx.path(run_paths.RETRIEVED))]
        # The generator sees user examples and real rows as few-shot seeds and sometimes copies one.
        known_inputs = [e.input for e in spec.examples] + [r["input"] for r in real]
        rows, unlabeled = screened(ctx, spec, candidates, known_inputs, rejections)
        rows, diagnostics = scored(ctx, spec, rows, real, rejections)
        train, test = with_more_solutions(
            *train_and_test(rows, real, spec, ctx.config.test_fraction, ctx.config.seed),
            ctx.config.solutions_per_question,
            ctx.config.keep_threshold,
        )
        write_jsonl(ctx.path(run_paths.TRAIN), train)
        write_jsonl(ctx.path(run_paths.TEST), test)
        write_jsonl(ctx.path(run_paths.REJECTED), rejections.rows)
        counts = {"candidates": len(candidates), "unlabeled": unlabeled, "real": len(real)}
        write_json(
            ctx.path(run_paths.VERIFY_SUMMARY),
            {**summary(spec, counts, rows, train, test, rejections.rows), **diagnostics},
        )
        ctx.progress.log(
            f"verify: kept {len(rows)} of {len(candidates)} candidates; train {len(train)}, test {len(test)}"
        )
