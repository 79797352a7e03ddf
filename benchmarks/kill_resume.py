"""SIGKILL at random moments of one run, then resume: the 24-example `p2m run` (every stage, a server
teacher: llama-cpp-python's server on loopback behind a counting proxy) is killed `--kills` times at
random moments and run again each time until it finishes.

    python benchmarks/kill_resume.py --kills 10 --limit 24

Checked after each kill and at the end: every JSON / JSONL file of the run dir parses and the cache
passes SQLite's integrity check; the ledger's attempts over all invocations (killed ones rebuilt from
ledger.jsonl) equal the POSTs the server saw; requests asked twice, against a clean run's count (a
request in flight at a kill is paid for and lost, so at most the in-flight ones may repeat). Prints one
JSON object (last line) and writes the README table between its markers (not with --no-readme).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import machine, write_readme_block
from server_teacher import TASK

from p2m.embedded import MINILM_ID
from p2m.run_ledger import attempts_of
from p2m.stages import STAGE_NAMES
from p2m.testing.fault_proxy import FaultProxy
from p2m.testing.servers import start_llama_server

TABLE_START, TABLE_END = "<!-- kill_resume: start -->", "<!-- kill_resume: end -->"
CONCURRENCY = 2


def command(run_dir: Path, base_url: str, limit: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "p2m",
        "run",
        TASK,
        "--out",
        str(run_dir),
        "--teacher-base-url",
        base_url,
        "--student",
        MINILM_ID,
        "--num-examples",
        str(limit),
        "--teacher-concurrency",
        str(CONCURRENCY),
        "--yes",
        "--quiet",
    ]


def corrupt_files(run_dir: Path, cache: Path) -> list[str]:
    """Files that do not parse (a journal's last line cut mid-write is allowed: the reader skips it)."""
    bad = []
    for path in run_dir.rglob("*.json"):
        try:
            json.loads(path.read_text())
        except ValueError:
            bad.append(str(path.relative_to(run_dir)))
    for path in run_dir.rglob("*.jsonl"):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            try:
                json.loads(line)
            except ValueError:
                if not (path.name == "ledger.jsonl" and number == len(lines) - 1):
                    bad.append(f"{path.relative_to(run_dir)}:{number + 1}")
    for db in cache.glob("*.sqlite"):
        with sqlite3.connect(db) as connection:
            if connection.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                bad.append(db.name)
    return bad


def stage_running(run_dir: Path) -> str:
    """The first stage not finished yet: the one a kill stopped."""
    path = run_dir / "stages.json"
    done = json.loads(path.read_text()) if path.exists() else {}
    return next((name for name in STAGE_NAMES if name not in done), "done")


def one_run(base_url: str, work: Path, limit: int, kills: int, rng: random.Random, max_delay: float) -> dict:
    """Kill the run `kills` times at random moments, then let it finish; what each check found."""
    run_dir, cache = work / "run", work / "cache"
    env = {**os.environ, "P2M_CACHE_DIR": str(cache)}
    killed_at, killed_in, corrupt = [], [], []
    started = time.perf_counter()
    while len(killed_at) < kills:
        process = subprocess.Popen(
            command(run_dir, base_url, limit), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        delay = rng.uniform(1.0, max_delay)
        try:
            process.wait(timeout=delay)
            break  # the run finished before its moment came
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            killed_at.append(round(delay, 1))
            killed_in.append(stage_running(run_dir))
        corrupt += corrupt_files(run_dir, cache)
    final = subprocess.run(command(run_dir, base_url, limit), env=env, capture_output=True, text=True)
    corrupt += corrupt_files(run_dir, cache)
    ledger = json.loads((run_dir / "ledger.json").read_text())
    return {
        "finished": final.returncode == 0,
        "error": final.stderr.strip().splitlines()[-1:] if final.returncode else [],
        "wall_s": round(time.perf_counter() - started, 1),
        "killed_at_s": killed_at,
        "killed_in": killed_in,
        "corrupt": corrupt,
        "invocations": len(ledger["history"]),
        "interrupted": sum(bool(h.get("interrupted")) for h in ledger["history"]),
        "ledger_attempts": sum(attempts_of(h) for h in ledger["history"]),
    }


def measured(base_url: str, limit: int, kills: int, rng: random.Random, max_delay: float) -> dict:
    proxy = FaultProxy(base_url)
    with tempfile.TemporaryDirectory() as work:
        result = one_run(proxy.base_url, Path(work), limit, kills, rng, max_delay)
    proxy.close()
    return {**result, "server_requests": proxy.seen, "asked_twice": sum(n - 1 for n in proxy.bodies.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--limit", type=int, default=24, help="synthetic examples (--num-examples)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    process, base_url = start_llama_server()
    try:
        clean = measured(base_url, args.limit, 0, random.Random(args.seed), 1.0)
        # each invocation killed within a quarter of a clean run's time: the kills fall all along the run as it resumes
        killed = measured(base_url, args.limit, args.kills, random.Random(args.seed), max(2.0, clean["wall_s"] / 4))
    finally:
        process.terminate()
    out = {
        "date": date.today().isoformat(),
        "machine": machine(),
        "limit": args.limit,
        "clean": clean,
        "killed": killed,
        "ledger_complete": killed["ledger_attempts"] == killed["server_requests"],
        "repeats_past_clean": killed["asked_twice"] - clean["asked_twice"],
        "in_flight_bound": CONCURRENCY * len(killed["killed_at_s"]),
    }
    if not args.no_readme:
        write_readme_block(TABLE_START, TABLE_END, readme_table(out, args))
    print(json.dumps(out))


def readme_table(out: dict, args) -> str:
    k, c = out["killed"], out["clean"]
    return (
        f"`python benchmarks/kill_resume.py --kills {args.kills} --limit {args.limit}`, {out['date']}, {out['machine']}; "
        f"llama-cpp-python server (SmolLM2-135M), {CONCURRENCY} requests in flight.\n\n"
        "| run | SIGKILLs | finished | corrupt files | server requests | ledger attempts | requests asked twice | wall s |\n"
        "|---|---|---|---|---|---|---|---|\n"
        f"| clean | 0 | {'yes' if c['finished'] else 'no'} | {len(c['corrupt'])} | {c['server_requests']} | {c['ledger_attempts']} | {c['asked_twice']} | {c['wall_s']} |\n"
        f"| killed at {', '.join(f'{t} s ({s})' for t, s in zip(k['killed_at_s'], k['killed_in']))} | {len(k['killed_at_s'])} | {'yes' if k['finished'] else 'no'} | {len(k['corrupt'])} "
        f"| {k['server_requests']} | {k['ledger_attempts']} | {k['asked_twice']} | {k['wall_s']} |\n"
    )


if __name__ == "__main__":
    main()
