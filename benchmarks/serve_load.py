"""`p2m serve` under load: N concurrent clients, each POSTing one real SST-2 test text to /v1/classify
at the same moment, then every malformed request the serve tests send (p2m/testing/servers.py); the
server must answer all of them, the bad ones with a 4xx JSON error, and stay up.

    python benchmarks/serve_load.py --run RUN_DIR [--onnx] [--clients 200] [--limit 200]

RUN_DIR is a finished classification run (the README's main job writes runs/classify-movie-reviews-...).
Prints one JSON object (last line) and writes the README table between its markers (not with --no-readme).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

from common import DATA, machine, write_readme_block

from p2m.files import read_jsonl
from p2m.student.serve import StudentServer
from p2m.testing.servers import BAD_REQUESTS, post, raw

TABLE_START, TABLE_END = "<!-- serve_load: start -->", "<!-- serve_load: end -->"


def load(server: StudentServer, texts: list[str], clients: int) -> dict:
    """Every text as its own request, `clients` at a time, released together."""
    gate = threading.Barrier(min(clients, len(texts)))
    latencies: list[float] = []

    def one(text: str) -> bool:
        body = json.dumps({"input": text}).encode()
        try:
            gate.wait(timeout=60)
        except threading.BrokenBarrierError:
            pass
        started = time.perf_counter()
        status, answer = raw(server, post("/v1/classify", body))
        latencies.append(time.perf_counter() - started)
        return status == 200 and len(answer["labels"]) == 1

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        answered = sum(pool.map(one, texts))
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(texts),
        "answered": answered,
        "wall_s": round(wall, 2),
        "requests_per_s": round(len(texts) / wall, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2]),
        "p95_ms": round(1000 * latencies[int(len(latencies) * 0.95)]),
        "forward_batches": server.app.state.batcher.batches,
    }


def malformed(server: StudentServer) -> dict:
    """Each bad request of the tests: its status, and whether the body was a JSON error."""
    results = {}
    for name, (data, _) in BAD_REQUESTS.items():
        try:
            status, body = raw(server, data)
            results[name] = status if 400 <= status < 500 and "error" in body else f"bad answer {status}"
        except Exception as error:  # a dropped connection or a non-JSON answer: the row says so
            results[name] = f"no JSON answer ({type(error).__name__})"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a finished classification run dir")
    parser.add_argument("--onnx", action="store_true", help="serve its ONNX export")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--limit", type=int, default=200, help="requests (real SST-2 test texts)")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    texts = [row["text"] for row in read_jsonl(DATA / "sst2" / "test.jsonl")[: args.limit]]
    server = StudentServer.for_run(args.run, port=0, runtime="onnx" if args.onnx else "torch").start()
    try:
        result = load(server, texts, args.clients)
        bad = malformed(server)
        still_up = raw(server, post("/v1/classify", b'{"input": "still up?"}'))[0] == 200
    finally:
        server.stop()
    out = {
        "date": date.today().isoformat(),
        "machine": machine(),
        "run": Path(args.run).name,
        "onnx": args.onnx,
        "clients": args.clients,
        **result,
        "malformed": bad,
        "malformed_json_4xx": sum(isinstance(v, int) for v in bad.values()),
        "malformed_total": len(bad),
        "still_up": still_up,
    }
    if not args.no_readme:
        write_readme_block(TABLE_START, TABLE_END, readme_table(out, args))
    print(json.dumps(out))


def readme_table(out: dict, args) -> str:
    command = f"python benchmarks/serve_load.py --run RUN{' --onnx' * args.onnx} --clients {args.clients} --limit {args.limit}"
    return (
        f"`{command}`, {out['date']}, {out['machine']}; RUN = the main job's run dir, "
        f"{'ONNX Runtime' if out['onnx'] else 'torch'} student.\n\n"
        "| concurrent clients | requests | answered | p50 ms | p95 ms | requests/s | forward batches | malformed requests with a 4xx JSON error | up after |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        f"| {out['clients']} | {out['requests']} | {out['answered']} | {out['p50_ms']} | {out['p95_ms']} | {out['requests_per_s']} "
        f"| {out['forward_batches']} | {out['malformed_json_4xx']} / {out['malformed_total']} | {'yes' if out['still_up'] else 'no'} |\n"
    )


if __name__ == "__main__":
    main()
