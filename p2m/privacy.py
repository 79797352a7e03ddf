"""What p2m writes must not carry secrets: credentials in a URL are cut before it is written anywhere
(config.json, ledger.json, reports, cache keys), and the run and cache directories p2m creates are
private to the user (0700; files p2m writes itself are 0600), since they hold prompts and answers. A
directory that already existed (`--out .`, a shared P2M_CACHE_DIR) keeps the modes its owner gave it."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


def redact_url(url: str | None) -> str | None:
    """The URL without user:password@ and without a query (where API keys are sometimes passed)."""
    if not url:
        return url
    parts = urlsplit(url)
    if not parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) readable by its owner only, unless it exists already."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, PRIVATE_DIR)
    return path
