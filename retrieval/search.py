"""BM25 search over the catalog, with hard constraints and popularity, each result explained.

The document is field-weighted metadata, not the README: id, pipeline tag and tags say what a model
does far more reliably than card prose (much of which is boilerplate such as "More information
needed"). A field's weight is how many times its tokens repeat in the document.

Final score = relevance (BM25 / the best BM25 among the results) + POPULARITY_WEIGHT * popularity
(log10 downloads, scaled to [0, 1]) + LOCAL_BONUS when the weights are already on this machine.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from rank_bm25 import BM25Okapi

from p2m.retrieval.catalog import CatalogEntry
from p2m.tasks import kind_of

FIELD_WEIGHTS = {"id": 3, "pipeline_tag": 3, "tags": 2, "datasets": 2, "languages": 1, "description": 1}
DESCRIPTION_CHARS = 300
POPULARITY_WEIGHT = 0.35
CURATED_POPULARITY = 0.6  # registry models have no download count; they are known-good students
LOCAL_BONUS = 0.15
BLOCKED_NAMESPACES = {"huggingtweets"}  # programmatic uploads (Prompt2Model blocks it too)
LANGUAGE_NAMES = {
    "english": "en",
    "german": "de",
    "french": "fr",
    "spanish": "es",
    "italian": "it",
    "portuguese": "pt",
    "dutch": "nl",
    "russian": "ru",
    "chinese": "zh",
    "japanese": "ja",
    "korean": "ko",
    "arabic": "ar",
    "hindi": "hi",
    "turkish": "tr",
    "polish": "pl",
    "swedish": "sv",
    "persian": "fa",
    "farsi": "fa",
    "vietnamese": "vi",
    "indonesian": "id",
    "romanian": "ro",
    "czech": "cs",
    "finnish": "fi",
    "greek": "el",
    "hebrew": "he",
    "ukrainian": "uk",
    "danish": "da",
    "hungarian": "hu",
    "thai": "th",
    "bengali": "bn",
}
_STOP = set(
    "a an the of to and or for in on at by with from as is are be this that these those it its into "
    "each one given your you their them than then which what who whom whose will would should can "
    "model models task tasks text input output use using used based".split()
)


def stem(word: str) -> str:
    """Prefix truncation: 'classify'/'classification', 'summarize'/'summarization' meet at 6 letters."""
    return word[:6] if len(word) > 6 else word


def tokenize(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower())
    return [stem(w) for w in words if w not in _STOP and len(w) > 1 and not w.isdigit()]


def document(entry: CatalogEntry) -> list[str]:
    """The field-weighted token list BM25 indexes for one entry."""
    languages = [*entry.languages, *(name for name, code in LANGUAGE_NAMES.items() if code in entry.languages)]
    fields = {
        "id": entry.id.replace("/", " "),
        "pipeline_tag": entry.pipeline_tag,
        "tags": " ".join(entry.tags),
        "datasets": " ".join(entry.datasets),
        "languages": " ".join(languages),
        "description": entry.description[:DESCRIPTION_CHARS],
    }
    return [token for name, text in fields.items() for token in tokenize(text) * FIELD_WEIGHTS[name]]


def task_languages(text: str) -> list[str]:
    """Language codes a task names ('translate English to German' -> en, de); [] = unspecified."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    return [code for name, code in LANGUAGE_NAMES.items() if name in words]


def bulk_namespaces(entries: list[CatalogEntry], min_models: int = 20, max_downloads: int = 50) -> set[str]:
    """Namespaces that upload many models nobody downloads (sweeps, auto-generated fine-tunes): in the
    2023 snapshot these are over a fifth of all models and crowd out the useful ones."""
    by_namespace: dict[str, list[int]] = defaultdict(list)
    for entry in entries:
        if "/" in entry.id and entry.downloads is not None:
            by_namespace[entry.id.split("/")[0]].append(entry.downloads)
    return {
        ns for ns, d in by_namespace.items() if len(d) >= min_models and max(d) < max_downloads
    } | BLOCKED_NAMESPACES


@dataclass
class Constraints:
    """Hard filters; every field documented in `p2m retrieve --help`."""

    task_type: str = "classification"
    max_params: int | None = None
    licenses: list[str] = field(default_factory=list)  # allow-list; [] = any
    languages: list[str] = field(default_factory=list)  # the task's; [] = any
    trainable_only: bool = False  # only architectures p2m trains today
    local_only: bool = False  # offline: weights must be on this machine


def check(entry: CatalogEntry, c: Constraints, spam: set[str]) -> list[str] | None:
    """The constraints `entry` passes, in words (for its explanation), or None if it fails one."""
    kind = kind_of(c.task_type)  # the architectures that can be trained for it, and the one p2m trains today
    wanted = (kind.trained_arch,) if c.trainable_only else kind.archs
    params = entry.estimated_params()
    if (
        entry.arch not in wanted
        or (entry.id.split("/")[0] in spam and not entry.curated)
        or (entry.downloads == 0 and not entry.local)
        or (c.max_params and params and params > c.max_params)
        or (c.licenses and entry.license not in c.licenses)
        or (c.languages and entry.languages and not ({*c.languages, "multilingual"} & set(entry.languages)))
        or (c.local_only and not entry.local)
    ):
        return None
    passed = [f"{entry.arch} fits {c.task_type}"]
    if c.max_params:
        passed.append(
            f"size {'%.0fM params' % (params / 1e6) if params else 'unknown'} within {c.max_params / 1e6:.0f}M"
        )
    if c.licenses:
        passed.append(f"licence {entry.license}")
    if c.languages:
        passed.append(f"language {'/'.join(entry.languages[:3]) or 'unstated'}")
    return passed


@dataclass
class Hit:
    id: str
    score: float
    bm25: float
    popularity: float
    matched_terms: list[str]
    constraints_passed: list[str]
    why: str
    arch: str = ""
    params: int | None = None
    license: str = ""
    downloads: int | None = None
    local: bool = False
    trainable: bool = False
    columns: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class Index:
    """A BM25 index over one catalog; build once, query many times."""

    def __init__(self, entries: list[CatalogEntry]):
        self.entries = entries
        self.documents = [document(e) for e in entries]
        self.vocabularies = [set(d) for d in self.documents]
        self.bm25 = BM25Okapi(self.documents) if entries else None  # rank-bm25 cannot index nothing
        self.spam = bulk_namespaces(entries)

    def search(self, query: str, constraints: Constraints, top_k: int = 5) -> list[Hit]:
        if self.bm25 is None:
            return []
        terms = tokenize(query)
        scores = self.bm25.get_scores(terms)
        wanted = set(terms)
        candidates = []
        for i in sorted(range(len(scores)), key=scores.__getitem__, reverse=True):
            entry = self.entries[i]
            passed = check(entry, constraints, self.spam) if entry.kind == "model" else dataset_check(entry)
            # Matching any term, not a positive score: in a small catalog a term in every document has
            # a negative Okapi IDF.
            if passed is not None and (wanted & self.vocabularies[i] or entry.local or entry.curated):
                candidates.append((i, float(scores[i]), passed))
            if len(candidates) >= max(top_k * 20, 100):
                break  # the rest score lower on BM25 than any popularity bonus can make up
        best = max((s for _, s, _ in candidates), default=0.0)
        hits = [
            self._hit(i, max(0.0, s) / best if best > 0 else 0.0, passed, terms, constraints)
            for i, s, passed in candidates
        ]
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:top_k]

    def _hit(self, i: int, relevance: float, passed: list[str], terms: list[str], c: Constraints) -> Hit:
        entry = self.entries[i]
        popularity = (
            min(1.0, math.log10(entry.downloads + 1) / 7)
            if entry.downloads is not None
            else CURATED_POPULARITY
            if entry.curated
            else 0.0
        )
        score = relevance + POPULARITY_WEIGHT * popularity + (LOCAL_BONUS if entry.local else 0.0)
        matched = sorted(set(terms) & self.vocabularies[i])
        reasons = [
            f"BM25 {relevance:.2f} of the best",
            f"popularity {popularity:.2f}"
            + (
                f" ({entry.downloads:,} downloads)"
                if entry.downloads is not None
                else " (p2m registry)"
                if entry.curated
                else ""
            ),
        ]
        if entry.local:
            reasons.append("weights on this machine")
        trainable = entry.kind == "model" and entry.arch == kind_of(c.task_type).trained_arch
        return Hit(
            id=entry.id,
            score=round(score, 4),
            bm25=round(relevance, 4),
            popularity=round(popularity, 4),
            matched_terms=matched,
            constraints_passed=passed,
            why="; ".join(reasons),
            arch=entry.arch,
            params=entry.estimated_params(),
            license=entry.license,
            downloads=entry.downloads,
            local=entry.local,
            trainable=trainable,
            columns=entry.columns,
        )


def dataset_check(entry: CatalogEntry) -> list[str] | None:
    """Gated datasets need accepting terms on the Hub; unused ones are noise."""
    return None if entry.gated or entry.downloads == 0 else ["not gated"]
