"""A flaky server teacher: the whole 24-example run (`p2m run`, every stage) through a loopback fault
proxy (p2m/testing/fault_proxy.py) in front of a real llama-cpp-python server (the embedded SmolLM2 GGUF),
with 0%, 10% and 30% of its POSTs faulted at random: 429, 500, 503, a dropped connection, a malformed
body, an answer with no choices, a hang past the client's time-out.

    python benchmarks/faults.py --limit 24 --rates 0 0.1 0.3

For each rate, in a fresh p2m cache and run dir: whether the run finished in one invocation, the
server's request count against the clean run's, the answers it paid for (forwarded), and the ledger's
attempt count (which must equal the proxy's). Prints one JSON object (last line) and writes the
README table between its markers (not with --no-readme).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import date

from common import machine, write_readme_block
from server_teacher import TASK

from p2m import Pipeline, RunConfig
from p2m.embedded import MINILM_ID
from p2m.errors import P2MError
from p2m.testing.fault_proxy import FAULTS, HANG, FaultProxy
from p2m.testing.servers import start_llama_server

TABLE_START, TABLE_END = "<!-- faults: start -->", "<!-- faults: end -->"
TIMEOUT_S = 10.0  # --teacher-timeout: a hung request is given up after this and asked again


def flaky_run(base_url: str, rate: float, limit: int, seed: int) -> dict:
    proxy = FaultProxy(base_url, rate=rate, kinds=FAULTS + (HANG,), seed=seed, hang_s=TIMEOUT_S + 2)
    with tempfile.TemporaryDirectory() as work:
        os.environ["P2M_CACHE_DIR"] = work
        config = RunConfig(
            task=TASK,
            num_examples=limit,
            out=f"{work}/run",
            teacher_base_url=proxy.base_url,
            student=MINILM_ID,
            teacher_concurrency=2,
            teacher_timeout=TIMEOUT_S,
            seed=seed,
        )
        started = time.perf_counter()
        error = None
        try:
            pipeline = Pipeline(config)
            pipeline.run()
        except P2MError as failure:
            error = str(failure)
        ledger = pipeline.teacher.ledger
        proxy.close()
    return {
        "rate": rate,
        "finished": error is None,
        "error": error,
        "wall_s": round(time.perf_counter() - started, 1),
        "server_requests": proxy.seen,
        "forwarded": proxy.forwarded,
        "faulted": proxy.faulted,
        "ledger_attempts": ledger.attempts,
        "ledger_calls": ledger.calls,
        "ledger_failed": ledger.failed_attempts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=24, help="synthetic examples (--num-examples)")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    process, base_url = start_llama_server()
    try:
        rows = [flaky_run(base_url, rate, args.limit, args.seed) for rate in args.rates]
    finally:
        process.terminate()
    clean = next((r["server_requests"] for r in rows if r["rate"] == 0), None)
    for row in rows:
        row["requests_vs_clean"] = round(row["server_requests"] / clean, 2) if clean else None
    out = {"date": date.today().isoformat(), "machine": machine(), "limit": args.limit, "rows": rows}
    if not args.no_readme:
        write_readme_block(TABLE_START, TABLE_END, readme_table(out, args))
    print(json.dumps(out))


def readme_table(out: dict, args) -> str:
    lines = [
        f"`python benchmarks/faults.py --limit {args.limit} --rates {' '.join(str(r) for r in args.rates)}`, {out['date']}, "
        f"{out['machine']}; llama-cpp-python server (SmolLM2-135M) behind the fault proxy, a {args.limit}-example run, every stage.",
        "",
        "| faulted POSTs | finished in one invocation | server requests | vs clean run | answers paid for | ledger attempts | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in out["rows"]:
        lines.append(
            f"| {r['rate']:.0%} | {'yes' if r['finished'] else 'no: ' + r['error']} | {r['server_requests']} | "
            f"{r['requests_vs_clean']}x | {r['forwarded']} | {r['ledger_attempts']} | {r['wall_s']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
