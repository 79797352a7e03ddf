"""The live Hub: `p2m catalog refresh` lists models and datasets with `huggingface_hub` and writes them
as the cached snapshot that retrieval reads. Only this module (and p2m/student/hub.py, for --push-to-hub) talks to the network."""

from __future__ import annotations

from p2m.errors import P2MError
from p2m.retrieval.catalog import CatalogEntry, entry_from_row, snapshot_path, write_snapshot

# Text tasks a student can be trained for; each is listed by downloads.
MODEL_PIPELINE_TAGS = (
    "text-classification",
    "token-classification",
    "fill-mask",
    "sentence-similarity",
    "feature-extraction",
    "question-answering",
    "text-generation",
    "text2text-generation",
    "summarization",
    "translation",
    "zero-shot-classification",
)
MODEL_FIELDS = [
    "downloads",
    "likes",
    "pipeline_tag",
    "tags",
    "cardData",
    "safetensors",
    "config",
    "gated",
    "usedStorage",
]
DATASET_FIELDS = ["downloads", "likes", "tags", "cardData", "gated", "description"]


def _info_row(info) -> dict:
    """A `ModelInfo` / `DatasetInfo` as a plain row for `entry_from_row`."""
    card = getattr(info, "card_data", None)
    safetensors = getattr(info, "safetensors", None)
    return {
        "id": info.id,
        "downloads": info.downloads,
        "likes": info.likes,
        "tags": info.tags or [],
        "pipeline_tag": getattr(info, "pipeline_tag", None),
        "gated": bool(info.gated),
        "cardData": card.to_dict() if card is not None else {},
        "config": getattr(info, "config", None),
        "safetensors": {"total": safetensors.total} if safetensors is not None else {},
        "usedStorage": getattr(info, "used_storage", None),
        "description": getattr(info, "description", None),
    }


def list_hub_models(per_tag: int = 500, api=None) -> list[CatalogEntry]:
    from huggingface_hub import HfApi

    api = api or HfApi()
    seen: dict[str, CatalogEntry] = {}
    for tag in MODEL_PIPELINE_TAGS:
        for info in api.list_models(pipeline_tag=tag, sort="downloads", limit=per_tag, expand=MODEL_FIELDS):
            seen.setdefault(info.id, entry_from_row(_info_row(info), "model", "hub"))
    return list(seen.values())


def list_hub_datasets(limit: int = 3000, api=None) -> list[CatalogEntry]:
    from huggingface_hub import HfApi

    api = api or HfApi()
    infos = api.list_datasets(sort="downloads", limit=limit, expand=DATASET_FIELDS, filter="modality:text")
    return [entry_from_row(_info_row(info), "dataset", "hub") for info in infos]


def refresh(kind: str, limit: int, api=None) -> tuple[int, str]:
    """List the Hub and replace the cached snapshot; (rows, path). No network is a clear error."""
    try:
        entries = list_hub_models(limit, api) if kind == "model" else list_hub_datasets(limit, api)
    except Exception as error:  # httpx/requests errors differ across versions: all mean "no Hub"
        raise P2MError(
            f"cannot reach the Hugging Face Hub ({type(error).__name__}); the cached catalog is unchanged"
        ) from None
    path = snapshot_path(kind)
    write_snapshot(path, entries, "huggingface_hub")
    return len(entries), str(path)
