"""Bad input, as a careless user or an attacker would give it: 57 command lines through the real CLI
(a subprocess each), then fuzzed inputs in-process through each reader of outside text: the task
description (its deterministic reading and the option checks), example files (CSV and JSONL), the
teacher's JSON replies, option values, and requests to `p2m serve`.

    python benchmarks/bad_input.py --limit 32000

Every case must end in a clear error (a `P2MError`, argparse's usage error, a 4xx JSON answer) or a
result: a traceback or a case over 5 s counts against it. Prints one JSON object (last line) and
writes the README table between its markers (not with --no-readme).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import machine, write_readme_block

from p2m.cli import build_parser, config_from_args
from p2m.config import load_examples
from p2m.errors import P2MError
from p2m.spec import TaskSpec
from p2m.student.serve import StudentServer
from p2m.task_text import heuristic_spec
from p2m.teacher.structured import InvalidAnswer, extract_json
from p2m.testing.fakes import FakeClassifier
from p2m.testing.servers import post, raw

TABLE_START, TABLE_END = "<!-- bad_input: start -->", "<!-- bad_input: end -->"
LIMIT_S = 5.0
MAX_CHARS = 1_000_000  # a fuzzed input's length: past the serve body limit, far past a task description
TASK = "Classify movie reviews as positive or negative"


def cli_cases(work: Path) -> dict[str, list]:
    """57 command lines that no run can succeed with; files they need are made in `work`."""
    files = {
        "bad.csv": b"input,output\n\xff\xfe,x\n",
        "nocols.csv": b"a,b\n1,2\n",
        "long.csv": b"input,output\nx,y,z,w\n",
        "empty.csv": b"",
        "bad.jsonl": b'{"input": "x", "output": \n',
        "list.jsonl": b"[1, 2]\n",
        "noout.jsonl": b'{"input": "x"}\n',
        "deep.jsonl": b"[" * 100_000 + b"]" * 100_000 + b"\n",
        "task.bin": b"Classify \xff\xfe as a or b",
        "empty.txt": b"  \n",
        "file": b"x",
        "user/notes.txt": b"mine",
    }
    for name, data in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    run = ["run", TASK, "--out", str(work / "run")]
    option = lambda *values: run + list(values)  # noqa: E731
    return {
        "empty task": ["run", ""],
        "blank task": ["run", "   "],
        "newlines task": ["run", "\n\n\n"],
        "invalid UTF-8 task": ["run", os.fsdecode(b"Classify \xff\xfe as a or b")],
        "no task": ["run"],
        "task file missing": ["run", "--task-file", str(work / "nope.txt")],
        "task file a directory": ["run", "--task-file", str(work)],
        "task file not UTF-8": ["run", "--task-file", str(work / "task.bin")],
        "task file blank": ["run", "--task-file", str(work / "empty.txt")],
        "task and task file": ["run", TASK, "--task-file", str(work / "empty.txt")],
        "examples missing": option("--examples", str(work / "nope.csv")),
        "examples a directory": option("--examples", str(work)),
        "examples not UTF-8": option("--examples", str(work / "bad.csv")),
        "examples without columns": option("--examples", str(work / "nocols.csv")),
        "CSV row past its header": option("--examples", str(work / "long.csv")),
        "examples empty": option("--examples", str(work / "empty.csv")),
        "JSONL broken": option("--examples", str(work / "bad.jsonl")),
        "JSONL not objects": option("--examples", str(work / "list.jsonl")),
        "JSONL without output": option("--examples", str(work / "noout.jsonl")),
        "JSONL nested deeply": option("--examples", str(work / "deep.jsonl")),
        "epochs nan": option("--epochs", "nan"),
        "epochs -3": option("--epochs", "-3"),
        "epochs inf": option("--epochs", "inf"),
        "epochs abc": option("--epochs", "abc"),
        "num-examples 0": option("--num-examples", "0"),
        "num-examples -5": option("--num-examples", "-5"),
        "num-examples 3.5": option("--num-examples", "3.5"),
        "votes -1": option("--votes", "-1"),
        "max-params infB": option("--max-params", "infB"),
        "max-params abc": option("--max-params", "abc"),
        "max-params -1M": option("--max-params", "-1M"),
        "budget 0": option("--budget-usd", "0"),
        "budget -1": option("--budget-usd", "-1"),
        "budget nan": option("--budget-usd", "nan"),
        "max calls -1": option("--max-teacher-calls", "-1"),
        "kd-temperature 0": option("--kd-temperature", "0"),
        "kd-alpha nan": option("--kd-alpha", "nan"),
        "test-fraction 2": option("--test-fraction", "2"),
        "teacher-concurrency 0": option("--teacher-concurrency", "0"),
        "teacher-timeout 0": option("--teacher-timeout", "0"),
        "wmss-weights a,b": option("--wmss-weights", "a,b"),
        "method bogus": option("--method", "bogus"),
        "lora bogus": option("--lora", "bogus"),
        "seed abc": option("--seed", "abc"),
        "student ../../x": option("--student", "../../x"),
        "out an existing file": ["run", TASK, "--out", str(work / "file")],
        "out under a file": ["run", TASK, "--out", str(work / "file" / "run")],
        "out a folder of the user's": ["run", TASK, "--out", str(work / "user")],
        "teacher URL unreachable": option("--teacher-base-url", "http://127.0.0.1:9/v1"),
        "teacher URL not a URL": option("--teacher-base-url", "not a url"),
        "teacher GGUF missing": option("--teacher", str(work / "missing.gguf")),
        "datasets file missing": option("--datasets", str(work / "nope.jsonl")),
        "eval not a run": ["eval", str(work / "user")],
        "serve not a run": ["serve", str(work / "user")],
        "export not a run": ["export", str(work / "user"), "--format", "onnx"],
        "unknown option": option("--frobnicate"),
        "no command": [],
    }


def run_cli_cases() -> dict:
    results = {}
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "P2M_CACHE_DIR": f"{work}/cache"}
        for name, argv in cli_cases(Path(work)).items():
            started = time.perf_counter()
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "p2m", *argv],
                    capture_output=True,
                    timeout=60,
                    env=env,
                    stdin=subprocess.DEVNULL,
                )
                stderr = done.stderr.decode(errors="replace")
                clear = done.returncode != 0 and "Traceback" not in stderr and "error:" in stderr
                results[name] = {
                    "clear": clear,
                    "s": round(time.perf_counter() - started, 2),
                    "error": stderr.strip().splitlines()[-1:],
                }
            except subprocess.TimeoutExpired:
                results[name] = {"clear": False, "s": 60.0, "error": ["hang"]}
    return results


class Timeout(Exception):
    pass


def bounded(call, *args):
    """`call(*args)`: None when it ends in a clear error or a result, else what went wrong."""
    signal.setitimer(signal.ITIMER_REAL, LIMIT_S)
    try:
        with (
            contextlib.redirect_stderr(io.StringIO()),
            contextlib.redirect_stdout(io.StringIO()),
        ):  # argparse's usage lines
            call(*args)
        return None
    except (P2MError, InvalidAnswer, SystemExit):
        return None
    except Timeout:
        return "hang"
    except Exception as error:
        return f"{type(error).__name__}: {str(error)[:120]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def fuzzed_text(rng: random.Random, seeds: list[str]) -> str:
    """A mutated seed, a run of one character, random code points, or deep nesting (at most MAX_CHARS)."""
    return _fuzzed(rng, seeds)[:MAX_CHARS]


def _fuzzed(rng: random.Random, seeds: list[str]) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.choice(["Classify", "{", "[", "Labels:", "", "- a\n"]) + rng.choice(
            [" ", "\n", "\t", ",", "{", "[", '"', "é", "👍"]
        ) * rng.choice([10, 800, 3000, 32000])
    if kind == 1:
        return "".join(
            chr(
                rng.choice(
                    [
                        rng.randrange(32, 127),
                        rng.randrange(0x80, 0x2FFF),
                        rng.randrange(0xD800, 0xE000),
                        rng.randrange(0, 32),
                    ]
                )
            )
            for _ in range(rng.randrange(1, 400))
        )
    if kind == 2:
        return rng.choice(["[", '{"a":']) * rng.randrange(10, 50_000)
    text = rng.choice(seeds)
    for _ in range(rng.randrange(1, 8)):
        i, j = sorted(rng.randrange(len(text) + 1) for _ in range(2))
        text = rng.choice(
            [
                text[:i] + text[j:],
                text[:i] + text[i:j] * rng.randrange(2, 50) + text[j:],
                text[:i] + chr(rng.randrange(0, 0x10FFFF)) + text[i:],
            ]
        )
    return text


TASK_SEEDS = [
    TASK,
    "Classify emails into billing, bug, feature request. Labels: billing, bug, feature",
    "Convert dates like 'March 3, 2021' to ISO format 2021-03-03\nExamples:\nInput: May 1, 2020\nOutput: 2020-05-01",
    "Tag tickets as:\n- 👍 good\n- 👎 bad\n- c++\n- c#",
]
REPLY_SEEDS = [
    '{"instruction": "Classify", "task_type": "classification", "labels": ["a", "b"], "examples": [{"input": "x", "output": "a"}]}',
    'Sure! ```json\n{"instruction": "x", "task_type": "generation", "labels": [], "examples": 3}\n```',
]
FILE_SEEDS = [
    "input,output\nI loved it,positive\nawful,negative\n",
    '{"input": "x", "output": "y"}\n{"text": "a", "label": "b"}\n',
    '\ufefftext,label\n"quoted, text",a\n',
]
OPTION_SEEDS = [
    "--epochs 3",
    "--num-examples 24",
    "--max-params 200M",
    "--budget-usd 0.5",
    "--wmss-weights 1,1,1",
    "--test-fraction 0.2",
    "--kd-temperature 2",
    "--seed 7",
    "--votes 3",
]
REQUEST_SEEDS = ['{"input": ["a", "b"]}', '{"messages": [{"role": "user", "content": "hi"}]}']


def fuzz_task(text: str) -> None:
    """As `p2m run TEXT` reads it: the option checks, then (for a task they let through) its deterministic reading."""
    config_from_args(build_parser().parse_args(["run", text]))
    heuristic_spec(text)


def fuzz_reply(text: str) -> None:
    TaskSpec.from_dict(extract_json(text))


def fuzz_file(work: Path, index: int, text: str) -> None:
    path = work / f"examples{index % 2}.{'csv' if index % 2 else 'jsonl'}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    load_examples(path)


def fuzz_options(text: str) -> None:
    flag, _, value = text.partition(" ")
    config_from_args(build_parser().parse_args(["run", TASK, flag or "--epochs", value]))


def fuzz_request(server: StudentServer, path: str, text: str) -> None:
    status, body = raw(server, post(path, text.encode("utf-8", errors="surrogatepass")))
    if status >= 500 or (status >= 400 and "error" not in body):
        raise AssertionError(f"status {status} for a request body")


def run_fuzz(limit: int, seed: int) -> dict:
    rng = random.Random(seed)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(Timeout()))
    server = StudentServer(FakeClassifier(), "p2m-fake", port=0).start()
    targets = {
        "task text": (TASK_SEEDS, fuzz_task),
        "teacher reply": (REPLY_SEEDS, fuzz_reply),
        "example file": (FILE_SEEDS, None),
        "option value": (OPTION_SEEDS, fuzz_options),
        "serve request": (REQUEST_SEEDS, None),
    }
    results = {name: {"cases": 0, "failures": 0, "max_s": 0.0, "examples": []} for name in targets}
    with tempfile.TemporaryDirectory() as work:
        for index in range(limit):
            name = list(targets)[index % len(targets)]
            seeds, call = targets[name]
            text = fuzzed_text(rng, seeds)
            args = (text,)
            if name == "example file":
                call, args = fuzz_file, (Path(work), index, text)
            elif name == "serve request":
                call, args = fuzz_request, (server, rng.choice(["/v1/classify", "/v1/chat/completions"]), text)
            started = time.perf_counter()
            problem = bounded(call, *args)
            row = results[name]
            row["cases"] += 1
            row["max_s"] = max(row["max_s"], round(time.perf_counter() - started, 3))
            if problem:
                row["failures"] += 1
                if len(row["examples"]) < 3:
                    row["examples"].append({"problem": problem, "input": repr(text[:80])})
    server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=32000, help="fuzzed inputs, spread over the five readers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cli", action="store_true", help="skip the 57 command lines")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    cli = {} if args.no_cli else run_cli_cases()
    fuzz = run_fuzz(args.limit, args.seed)
    out = {
        "date": date.today().isoformat(),
        "machine": machine(),
        "cli_cases": len(cli),
        "cli_unclear": {name: r for name, r in cli.items() if not r["clear"] or r["s"] > LIMIT_S},
        "cli_max_s": max((r["s"] for r in cli.values()), default=None),
        "fuzz": fuzz,
        "fuzz_cases": sum(r["cases"] for r in fuzz.values()),
        "fuzz_failures": sum(r["failures"] for r in fuzz.values()),
    }
    if not args.no_readme and not args.no_cli:
        write_readme_block(TABLE_START, TABLE_END, readme_table(out, args))
    print(json.dumps(out, ensure_ascii=True))


def readme_table(out: dict, args) -> str:
    lines = [
        f"`python benchmarks/bad_input.py --limit {args.limit}`, {out['date']}, {out['machine']}.",
        "",
        "| input | cases | without a clear error (traceback, hang) | slowest case s |",
        "|---|---|---|---|",
        f"| command lines (subprocess) | {out['cli_cases']} | {len(out['cli_unclear'])} | {out['cli_max_s']} |",
    ]
    for name, row in out["fuzz"].items():
        lines.append(f"| fuzzed {name} | {row['cases']} | {row['failures']} | {row['max_s']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
