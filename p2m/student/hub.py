"""`--push-to-hub REPO`: upload a finished run's model/ to the Hugging Face Hub with the real
`huggingface_hub` API (token from HF_TOKEN or `hf auth login`; never written by p2m)."""

from __future__ import annotations

from pathlib import Path

from p2m.errors import P2MError


def push_model(model_dir: Path, repo_id: str) -> str:
    """Create the repo if needed and upload the folder as one commit; returns the repo's URL."""
    from huggingface_hub import HfApi

    if not (model_dir / "p2m.json").exists():
        raise P2MError(f"{model_dir} holds no trained student to push")
    api = HfApi()
    try:
        url = api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(folder_path=str(model_dir), repo_id=repo_id, commit_message="p2m: trained student")
    except Exception as error:  # noqa: BLE001 -- the network boundary: offline, no token, no rights, bad repo id, HTTP client errors
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise P2MError(
            f"could not push {model_dir} to the Hub repo {repo_id}: {first_line}; the run itself is complete"
        ) from None
    return str(url)
