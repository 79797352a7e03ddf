"""RunConfig: every option of a run, as documented fields with defaults (the CLI and TUI mirror it)."""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from p2m import run_paths
from p2m.errors import P2MError
from p2m.privacy import redact_url

METHODS = ("sft", "soft-kd", "logit-kd", "context", "wmss")
LORA_MODES = ("auto", "on", "off", "qlora")
CLASSIFIER_TUNINGS = ("head", "full")
LABEL_PRIORS = ("names", "none")


@dataclass
class RunConfig:
    task: str
    """The task description, in plain words; may contain labels and Input:/Output: examples."""
    examples: list[dict] = field(default_factory=list)
    """User examples ({"input", "output"}); they seed generation and join the test set, never training."""
    out: str | None = None
    """Run directory; default runs/<slug of the task>. Re-using it resumes or re-uses finished stages."""
    teacher: str = "auto"
    """'auto' (OpenAI with OPENAI_API_KEY, the server with --teacher-base-url, else the strongest embedded
    preset installed), 'embedded', a preset run by llama.cpp ('qwen2.5-coder-1.5b', 'smollm2-135m'), a
    .gguf file, 'hf:OWNER/REPO/FILE.gguf', a local model dir or Hub id for transformers (needed by
    logit-kd), or a model name on the OpenAI-compatible server."""
    teacher_base_url: str | None = None
    """OpenAI-compatible server (vLLM, llama.cpp server, Ollama); its key, if any, from OPENAI_API_KEY."""
    teacher_concurrency: int | None = None
    """Requests in flight to a server teacher; default 16 for --teacher-base-url (enough to keep a vLLM
    server's batches full), 4 for OpenAI itself."""
    teacher_timeout: float = 60.0
    """Seconds to wait for one answer from a server teacher before the request counts as failed and is asked again."""
    student: str = "auto"
    """'auto' (BM25 retrieval over the student registry), a registry id, or a local model directory."""
    max_params: int | None = None
    """Largest student (parameters) 'auto' may pick; default: no limit."""
    catalog: list[str] = field(default_factory=list)
    """Extra model/dataset catalog snapshots (JSONL) to search, besides p2m's registry and cache."""
    datasets: list[str] = field(default_factory=list)
    """Real data to train on as well: Hub dataset ids, local files/folders, a finished p2m run directory
    (its data/hf train split), or 'auto' (best matches)."""
    dataset_rows: int = 500
    """At most this many rows from each dataset (its training split only)."""
    unlabeled: str | None = None
    """Real inputs without labels: a text file (one per line) or JSONL/CSV with an input or text field.
    A classification run pseudo-labels them with the same verifiers as its synthetic inputs and trains
    on those that pass (self-training); each costs the teacher's likelihood of every label."""
    num_examples: int = 96
    """Synthetic examples to generate before verification."""
    subjects_per_label: int = 12
    """Classification: the teacher first lists this many subjects per label, then writes each input
    for a (label, subject) pair (ZeroGen's two stages: inputs differ in what they are about, not only
    in style); text tasks: twice this many for the task as a whole; 0 writes without subjects."""
    styles: bool = True
    """Each generated input (not a reading-comprehension passage) is asked for in a writing style drawn
    from the prompts' styles file (variety beyond subjects); off asks for every input without one.
    Inputs whose examples are short (under 8 words: dates, codes) never get a style."""
    votes: int = 3
    """Sampled teacher answers per example (self-consistency / label votes)."""
    solutions_per_question: int = 4
    """Math (worked solutions): train on up to this many of the teacher's answers per question, the
    chosen one and those others (best first, above --keep-threshold) that reach its final number: Ho et
    al. 2023's diverse reasoning, more reasoning paths from the answers verification paid for anyway.
    At most 1 + --votes exist; 1 trains on the chosen solution only."""
    channel_verifier: bool = False
    """Classification with a scoring teacher: also read the teacher's likelihood of each input after each
    label (noisy channel). It decodes the input once per label, so it costs about twice the rest of the
    verify stage's teacher time for two labels."""
    keep_threshold: float = 0.5
    """Minimum aggregated verifier score for an example to be kept."""
    label_fidelity: bool = True
    """Classification: keep an example only where the teacher's own calibrated reading of it (label
    likelihood, else its votes) picks the label the verifiers settled on (SuperGen's label fidelity:
    a generator often writes an input that fits another label better than the one it was asked for)."""
    dedup: bool = True
    """Verify drops a generated input whose word 4-grams overlap those of one kept before it by 80% or
    more (Jaccard); off keeps such near-duplicates. Copies of your examples and of retrieved real rows are
    dropped either way."""
    test_fraction: float = 0.2
    """Share of verified synthetic examples held out for evaluation (user examples are always held out)."""
    epochs: float = 0
    """Training epochs; 0 picks a default from the data size."""
    learning_rate: float = 0
    """Training step size; 0 picks a default: by the encoder's size for a classifier or span student,
    5e-5 for a causal student fine-tuned whole, 2e-4 for one trained through LoRA adapters (they start at
    zero and need the larger step to move in a few dozen steps)."""
    method: str = "sft"
    """How the student learns from the teacher.
    'sft': the hard targets the verifiers selected.
    'soft-kd' (classification): the teacher's calibrated label distribution as soft targets, KL at
    `kd_temperature` mixed with CE by `kd_alpha`.
    'logit-kd' (causal students sharing the teacher's tokenizer, local teacher): per-token generalized
    JSD to the teacher's logits, the teacher reading its own few-shot prompt (TRL's GKD loss; `kd_beta`,
    `kd_on_policy`), mixed with CE by `kd_alpha`.
    'context' (text outputs): context distillation; the student learns input -> answer without the
    instruction and examples the teacher answered with.
    'wmss' (text outputs): SFT, then weak-driven joint training with the base checkpoint (arXiv 2602.08222)."""
    classifier_tuning: str = "full"
    """Classification: 'full' fits the linear layer over the frozen encoder's mean-pooled embedding (a
    linear probe), then fine-tunes encoder and layer together from there for --epochs (LP-FT); 'head'
    stops after the probe (seconds; benchmarks/recipe.py measures both)."""
    label_prior: str = "none"
    """Classification: what the head is pulled toward while it is fitted: 'none' (toward zero: the plain
    probe) or 'names', the label names' own embeddings (the zero-shot classifier; benchmarks/recipe.py
    measured it ahead of 'none' on TREC and behind it on SNIPS and SST-2)."""
    label_prototypes: float = 1.0
    """Classification: after training, the label names' own embeddings through the trained encoder (the
    zero-shot classifier, at the embedding verifier's temperature) are added to the head's weights by this
    factor, so the student's logits are the head's plus the zero-shot reading in the tuned embedding space.
    It pulls a student trained on a weak teacher's data toward zero-shot; 0 leaves the head as trained
    (benchmarks/recipe.py measures both)."""
    weight_ensemble: float = 0.75
    """Classification, --classifier-tuning full: the student's weights are this share of the trained ones
    (encoder and head, prototypes included) and the rest the base encoder's with its zero-shot head, the
    label names' embeddings (WiSE-FT, Wortsman et al. 2022). Below 1 it keeps more of what the base
    encoder knew of the label names, which a weak teacher's data wears away; 1 keeps the trained student.
    0.75 was chosen on development rows: the best mean over the six suite runs' students of both teachers
    (README, after the recipe table)."""
    kd_alpha: float = 0.5
    """soft-kd / logit-kd: weight of the distillation term (1 - kd_alpha goes to CE on the hard target)."""
    kd_temperature: float = 2.0
    """soft-kd: temperature applied to the student's logits and the teacher's distribution."""
    kd_beta: float = 0.5
    """logit-kd: 0 forward KL(teacher || student), 1 reverse KL, in between the generalized JSD."""
    kd_on_policy: float = 0.0
    """logit-kd: share of steps trained on completions sampled from the student (GKD's lambda); each
    such step generates, which is slow on CPU, so 0 by default."""
    wmss_lambda: float = 0.5
    """wmss: the strong model's share of the mixed logits, z = (1 - lambda) z_weak + lambda z_strong."""
    wmss_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    """wmss: (alpha, beta, gamma), weights of base entropy, entropy drop and entropy rebound in example selection."""
    lora: str = "auto"
    """'auto' (LoRA for causal students over 300M parameters, which fine-tuned whole on a few hundred rows
    lose what they could do, and for other students over 1B), 'on', 'off', or 'qlora' (4-bit base, CUDA +
    bitsandbytes)."""
    early_stopping: int = 2
    """Stop after this many evaluations without a lower validation loss (10% of the training rows held
    out, from 200 rows up: fewer pick a checkpoint by noise); 0 trains every epoch on all rows."""
    push_to_hub: str | None = None
    """Hub repo id (user/name) to upload model/ to when the run finishes (token from HF_TOKEN or `hf auth login`)."""
    push_dataset_to_hub: str | None = None
    """Hub dataset repo id (user/name) to upload data/hf/ (train, test, rejected and the card) to when the run finishes."""
    seed: int = 0
    """Seed of generation requests, data splits and training: the same seed, the same run."""
    max_teacher_calls: int | None = None
    """Stop cleanly, keeping finished work, once this many live teacher requests (failed ones included)
    were made for this run, over all its invocations."""
    budget_usd: float | None = None
    """Stop cleanly before the teacher's cost (where its price is known) would pass this many dollars."""

    def check(self) -> None:
        """Reject options no run could succeed with, before anything is spent or any model loads."""
        if not self.task.strip():
            raise P2MError(
                "the task description is empty; say what the model should do, e.g. "
                'p2m run "Classify movie reviews as positive or negative"'
            )
        try:
            self.task.encode("utf-8")
        except UnicodeEncodeError:
            raise P2MError("the task description is not valid UTF-8 text") from None
        if len(self.task) > MAX_TASK_CHARS:  # more than any teacher's context holds; examples belong in a file
            raise P2MError(
                f"the task description is {len(self.task):,} characters, more than {MAX_TASK_CHARS:,}; "
                "describe the task in a few lines and give examples with --examples FILE"
            )
        self._check_numbers()
        self._check_choices()
        self._check_paths()

    def _check_numbers(self) -> None:
        """Every number finite (NaN passes comparisons unnoticed), and those that count things in range."""
        for name, value in asdict(self).items():
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                raise P2MError(f"--{name.replace('_', '-')} must be a finite number")
        if min(self.epochs, self.early_stopping, self.learning_rate) < 0 or self.kd_temperature <= 0:
            raise P2MError(
                "--epochs, --early-stopping and --learning-rate must be at least 0 (0: the default), --kd-temperature above 0"
            )
        if self.label_prototypes < 0:
            raise P2MError("--label-prototypes must be at least 0 (0: the head as trained)")
        if not 0 <= self.weight_ensemble <= 1:
            raise P2MError("--weight-ensemble must be in [0, 1] (1: the trained student as it is)")
        if self.budget_usd is not None and self.budget_usd <= 0:
            raise P2MError("--budget-usd must be a positive number of dollars")
        if self.max_teacher_calls is not None and self.max_teacher_calls < 1:
            raise P2MError("--max-teacher-calls must be at least 1")
        if self.teacher_concurrency is not None and self.teacher_concurrency < 1:
            raise P2MError("--teacher-concurrency must be at least 1")
        if self.teacher_timeout <= 0:
            raise P2MError("--teacher-timeout must be a positive number of seconds")
        if (
            self.num_examples < (0 if self.datasets else 1)
            or min(self.votes, self.dataset_rows, self.subjects_per_label) < 0
        ):
            raise P2MError(
                "--num-examples must be at least 1 (0 trains on --datasets rows only), --votes, --dataset-rows and "
                "--subjects-per-label at least 0"
            )
        if self.solutions_per_question < 1:
            raise P2MError("--solutions-per-question must be at least 1")
        if not (
            0 <= self.kd_alpha <= 1
            and 0 <= self.kd_beta <= 1
            and 0 <= self.kd_on_policy <= 1
            and 0 < self.wmss_lambda <= 1
        ):
            raise P2MError("--kd-alpha, --kd-beta and --kd-on-policy must be in [0, 1], --wmss-lambda in (0, 1]")
        if len(self.wmss_weights) != 3 or min(self.wmss_weights) < 0 or sum(self.wmss_weights) <= 0:
            raise P2MError("--wmss-weights takes three non-negative numbers, not all zero, e.g. 1,1,1")
        if not 0 <= self.keep_threshold <= 1 or not 0 < self.test_fraction < 1:
            raise P2MError("--keep-threshold must be in [0, 1] and the test fraction in (0, 1)")

    def _check_choices(self) -> None:
        if self.method not in METHODS:
            raise P2MError(f"--method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.lora not in LORA_MODES:
            raise P2MError(f"--lora must be one of {', '.join(LORA_MODES)}, not {self.lora!r}")
        if self.classifier_tuning not in CLASSIFIER_TUNINGS or self.label_prior not in LABEL_PRIORS:
            raise P2MError(
                f"--classifier-tuning must be one of {', '.join(CLASSIFIER_TUNINGS)} and --label-prior one of "
                f"{', '.join(LABEL_PRIORS)}, not {self.classifier_tuning!r} / {self.label_prior!r}"
            )
        if self.lora == "qlora":
            import torch

            if not torch.cuda.is_available():
                raise P2MError("--lora qlora needs a CUDA GPU (4-bit bitsandbytes); use --lora on here")
        if self.teacher_base_url:
            url = urlsplit(self.teacher_base_url)
            if url.scheme not in ("http", "https") or not url.netloc:
                raise P2MError(
                    f"--teacher-base-url must be an http(s) URL such as http://127.0.0.1:8080/v1, not {redact_url(self.teacher_base_url)!r}"
                )

    def _check_paths(self) -> None:
        """Files the options name exist, and the run dir can be p2m's."""
        if (
            self.teacher.lower().endswith(".gguf")
            and not self.teacher.startswith("hf:")
            and not Path(self.teacher).is_file()
        ):
            raise P2MError(f"teacher file {self.teacher} not found")
        for source in self.datasets:
            if Path(source).suffix.lower() in DATA_FILE_SUFFIXES and not Path(source).exists():
                raise P2MError(f"--datasets {source}: no such file")
        if self.unlabeled and not Path(self.unlabeled).is_file():
            raise P2MError(f"--unlabeled {self.unlabeled}: no such file")
        check_run_dir(self.run_dir())

    def run_dir(self) -> Path:
        return Path(self.out or Path("runs") / slugify(self.task))

    def to_dict(self) -> dict:
        """The options as written to config.json: a server URL without its credentials."""
        return {**asdict(self), "teacher_base_url": redact_url(self.teacher_base_url)}


MAX_TASK_CHARS = 20_000
DATA_FILE_SUFFIXES = (
    ".jsonl",
    ".json",
    ".csv",
    ".tsv",
    ".parquet",
)  # --datasets files (retrieval/dataset_rows.py reads them)


def check_run_dir(path: Path) -> None:
    """A run dir is new, empty or a p2m run: p2m never writes into a folder of the user's."""
    if path.exists() and not path.is_dir():
        raise P2MError(f"--out {path} is a file, not a directory")
    ledger_only = (run_paths.LEDGER_JOURNAL, run_paths.LEDGER, run_paths.LOCK)  # a run stopped before it began
    others = [p.name for p in path.iterdir() if p.name not in ledger_only] if path.is_dir() else []
    if others and not (path / run_paths.CONFIG).exists():
        raise P2MError(f"--out {path} is a folder with other files in it, not a p2m run; pass a new or empty --out")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise P2MError(f"--out {path}: {parent} is a file, not a directory")


def slugify(text: str, limit: int = 48) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "run"


PAST_HEADER = "(cells past the header)"


def read_rows(path: str | Path, kind: str) -> list[dict]:
    """The rows of a JSONL or CSV file as dicts (a JSONL line that is not an object: an empty row)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's CSV often starts with a byte-order mark
    except (OSError, UnicodeDecodeError) as error:
        raise P2MError(f"cannot read {kind} file {path}: {getattr(error, 'strerror', None) or error}") from None
    try:
        if path.suffix.lower() == ".csv":
            rows = list(csv.DictReader(text.splitlines(), restkey=PAST_HEADER))
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (json.JSONDecodeError, csv.Error, RecursionError) as error:
        raise P2MError(
            f"cannot parse {kind} file {path}: {error or 'nested too deeply'} (expected JSONL or CSV)"
        ) from None
    for number, row in enumerate(rows, 1):
        if isinstance(row, dict) and PAST_HEADER in row:
            raise P2MError(f"{path}: row {number} has more cells than the header; quote cells that hold commas")
    return [row if isinstance(row, dict) else {} for row in rows]


def load_pairs(
    path: str | Path, input_field: str | None = None, output_field: str | None = None, kind: str = "examples"
) -> list[dict]:
    """(input, output) pairs from a JSONL or CSV file. Fields default to input/output, else text/label."""
    pairs = []
    for number, row in enumerate(read_rows(path, kind), 1):
        source = row.get(input_field) if input_field else row.get("input", row.get("text"))
        target = row.get(output_field) if output_field else row.get("output", row.get("label"))
        if source is None or target is None:
            wanted = f"'{input_field or 'input'}' and '{output_field or 'output'}'"
            raise P2MError(f"{path}: row {number} needs {wanted}; it has {sorted(map(str, row))}")
        pairs.append({"input": str(source), "output": str(target)})
    if not pairs:
        raise P2MError(f"{kind} file {path} holds no rows")
    return pairs


def load_texts(path: str | Path, kind: str = "unlabeled") -> list[str]:
    """Inputs without labels: one per line of a text file, or the input (else text) field of JSONL/CSV rows."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".csv"):
        texts = []
        for number, row in enumerate(read_rows(path, kind), 1):
            if row.get("input", row.get("text")) is None:
                raise P2MError(f"{path}: row {number} needs 'input' or 'text'; it has {sorted(map(str, row))}")
            texts.append(str(row.get("input", row.get("text"))))
    else:
        try:
            texts = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise P2MError(f"cannot read {kind} file {path}: {getattr(error, 'strerror', None) or error}") from None
    texts = [t.strip() for t in texts if t.strip()]
    if not texts:
        raise P2MError(f"{kind} file {path} holds no texts")
    return texts


def load_examples(path: str | Path) -> list[dict]:
    """User examples: JSONL or CSV with input/output (or text/label) fields."""
    return load_pairs(path)
