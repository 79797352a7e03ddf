"""`p2m` command line: a thin shell over `p2m.Pipeline`. User errors print one line and exit 2."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sqlite3
import sys
from pathlib import Path

from p2m import run_paths
from p2m.cli.options import add_config_options, parse_count
from p2m.config import RunConfig, load_examples
from p2m.errors import P2MError
from p2m.stages import STAGE_NAMES

EPILOG = """examples:
  p2m run "Classify movie reviews as positive or negative" --yes
  p2m run "Convert dates like 'March 3, 2021' to ISO format 2021-03-03" --num-examples 32
  p2m run "Tag support emails" --examples emails.jsonl --teacher-base-url http://127.0.0.1:8080/v1
  p2m parse "Classify emails into billing, bug, feature request"
"""


def _quiet_libraries() -> None:
    """Library chatter (info logs, download bars) drowns p2m's own progress; warnings and errors still
    surface (the known noise is silenced where it arises: p2m/stages/train.py, p2m/training/distill.py).
    Set through the libraries' environment variables, so a bad option fails before they are imported."""
    for name, value in {
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' bars too
        "TQDM_DISABLE": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "DATASETS_VERBOSITY": "error",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    }.items():
        os.environ.setdefault(name, value)


def _add_run_command(commands) -> None:
    run = commands.add_parser(
        "run",
        help="parse, synthesize, verify, train and evaluate, end to end",
        description="Run the whole pipeline; re-running resumes and re-uses finished stages.",
    )
    add_config_options(run)
    run.add_argument("--task-file", metavar="FILE", help="read the task description from this file (UTF-8) instead")
    run.add_argument("--examples", metavar="FILE", help="your examples, JSONL or CSV with input/output (or text/label)")
    run.add_argument(
        "--until",
        choices=STAGE_NAMES,
        metavar="STAGE",
        help=f"stop after this stage ({', '.join(STAGE_NAMES)}); e.g. train under accelerate launch",
    )
    run.add_argument("--yes", "-y", action="store_true", help="do not ask before spending teacher calls")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    run.add_argument("--json", action="store_true", help="print report.json to stdout at the end")
    parse = commands.add_parser("parse", help="print the task spec the pipeline would use, as JSON")
    add_config_options(parse, only=("task", "teacher", "teacher_base_url"))
    parse.add_argument("--task-file", metavar="FILE", help="read the task description from this file (UTF-8) instead")
    parse.add_argument(
        "--examples", metavar="FILE", help="your examples, JSONL or CSV with input/output (or text/label)"
    )


def _add_run_dir_commands(commands) -> None:
    evaluate = commands.add_parser(
        "eval",
        help="teacher vs student of a finished run, on its held-out set or a test file",
        description="Score a run's teacher and student on the same items, with 95% CIs.",
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR")
    evaluate.add_argument("--test", metavar="FILE", help="a JSONL or CSV test file (default: the run's held-out set)")
    evaluate.add_argument("--input-field", metavar="F", help="input column of the test file (default input, else text)")
    evaluate.add_argument(
        "--label-field", metavar="L", help="gold column (default output, else label); labels match case-insensitively"
    )
    evaluate.add_argument("--limit", type=int, metavar="N", help="only the first N test rows")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")

    serve = commands.add_parser(
        "serve",
        help="serve a run's student as an OpenAI-compatible API",
        description="POST /v1/chat/completions (the last user message is the input), "
        "GET /v1/models, and POST /v1/classify for classifiers.",
    )
    serve.add_argument("run_dir", metavar="RUN_DIR")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only)"
    )
    serve.add_argument("--port", type=int, default=8000, help="default %(default)s")
    runtime = serve.add_mutually_exclusive_group()
    runtime.add_argument(
        "--onnx",
        dest="runtime",
        action="store_const",
        const="onnx",
        default="torch",
        help="serve the ONNX export (p2m export RUN_DIR --format onnx) with ONNX Runtime",
    )
    runtime.add_argument(
        "--gguf",
        dest="runtime",
        action="store_const",
        const="gguf",
        help="serve a text student's GGUF export (p2m export RUN_DIR --format gguf) with llama.cpp",
    )

    export = commands.add_parser(
        "export",
        help="export a run's student: ONNX (encoder students) or GGUF (causal text students)",
        description="ONNX: export/onnx/, checked against torch on the held-out set. "
        "GGUF: export/gguf/ for llama.cpp, with an Ollama Modelfile.",
    )
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("--format", choices=("onnx", "gguf"), required=True)

    tui = commands.add_parser(
        "tui",
        help="the interactive wizard (Textual), for a new run or to reopen RUN_DIR",
        description="Task, spec, model & data, plan, run, results; F1 lists the keys.",
    )
    tui.add_argument(
        "run_dir", nargs="?", metavar="RUN_DIR", help="an existing run directory to reopen (resume or view results)"
    )


def _add_catalog_commands(commands) -> None:
    retrieve = commands.add_parser(
        "retrieve",
        help="search the catalog for student models or datasets",
        description="BM25 over Hub metadata with constraints; answers offline from the cached catalog.",
    )
    retrieve.add_argument("kind", choices=("models", "datasets"))
    retrieve.add_argument("task", help="the task, in plain words")
    retrieve.add_argument(
        "--catalog",
        action="append",
        default=[],
        metavar="FILE",
        help="catalog snapshot to search besides the registry and cache (JSONL; see README); repeatable",
    )
    retrieve.add_argument("--top-k", type=int, default=5, metavar="K")
    retrieve.add_argument("--max-params", type=parse_count, metavar="N", help="e.g. 150M or 1B")
    retrieve.add_argument(
        "--license", action="append", default=[], metavar="L", help="allowed licence, e.g. apache-2.0; repeatable"
    )
    retrieve.add_argument("--trainable", action="store_true", help="only architectures p2m trains today")
    retrieve.add_argument("--json", action="store_true", help="print a JSON array, best first")

    catalog = commands.add_parser("catalog", help="refresh the cached snapshot of the Hub catalog (needs network)")
    catalog.add_argument("action", choices=("refresh",))
    catalog.add_argument("--kind", choices=("models", "datasets", "both"), default="both")
    catalog.add_argument(
        "--limit",
        type=int,
        default=500,
        metavar="N",
        help="models per pipeline tag, or datasets (x6) (default %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="p2m",
        description="Turn a task description into a small, trained, evaluated model.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_command(commands)
    _add_run_dir_commands(commands)
    _add_catalog_commands(commands)
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig of parsed `p2m run` options (bad ones fail here, with their one-line error)."""
    options = {k: v for k, v in vars(args).items() if k in RunConfig.__dataclass_fields__ and v is not None}
    options["examples"] = load_examples(args.examples) if args.examples else []
    if args.task_file:
        if args.task:
            raise P2MError("give the task either as text or with --task-file, not both")
        options["task"] = read_task_file(args.task_file)
    config = RunConfig(**options)
    config.check()
    return config


def read_task_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise P2MError(f"the task file {path} is not UTF-8 text") from None
    except OSError as error:
        raise P2MError(f"cannot read the task file {path}: {error.strerror}") from None


def command_parse(args: argparse.Namespace) -> None:
    config = config_from_args(args)  # bad options fail before the model libraries load
    from p2m.stages.parse import parse_task
    from p2m.teacher.choice import build_teacher

    spec, warnings_ = parse_task(build_teacher(config), config.task, config.examples)
    print(json.dumps({**spec.to_dict(), "warnings": warnings_}, indent=2, ensure_ascii=False))


def command_run(args: argparse.Namespace) -> None:
    config = config_from_args(args)  # bad options fail before the model libraries load
    from rich.console import Console

    from p2m.cli.display import RichProgress, confirm, summary_table
    from p2m.pipeline import Pipeline
    from p2m.progress import Progress

    console = Console(stderr=True, quiet=args.quiet)
    pipeline = Pipeline(config, RichProgress(console) if not args.quiet else Progress())
    if not args.yes and sys.stdin.isatty() and not confirm(console, pipeline):
        raise P2MError("cancelled; nothing was spent")
    try:
        report = pipeline.run(until=args.until)
    except KeyboardInterrupt:
        raise P2MError(
            f"interrupted; finished work is kept in {pipeline.run_dir}, run the same command again to resume"
        ) from None
    if args.until and args.until != "report":
        console.print(
            f"stopped after {args.until}; run the same command without --until to finish ({pipeline.run_dir})"
        )
    elif args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        console.print(summary_table(report))


def command_eval(args: argparse.Namespace) -> None:
    from rich.console import Console

    from p2m.cli.display import RichProgress, evaluation_table
    from p2m.files import read_json
    from p2m.pipeline import Pipeline
    from p2m.progress import Progress

    console = Console(stderr=True)
    if args.test:
        pipeline = Pipeline.open(args.run_dir, Progress() if args.json else RichProgress(console))
        result = pipeline.evaluate(args.test, args.input_field, args.label_field, args.limit)
    else:
        held_out = Path(args.run_dir) / run_paths.EVAL_METRICS
        if not held_out.exists():
            raise P2MError(f"{args.run_dir} has no evaluation yet; finish it with p2m run, or pass --test FILE")
        result = read_json(held_out)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        console.print(evaluation_table(result, args.test or "held-out set"))


def command_retrieve(args: argparse.Namespace) -> None:
    from rich.console import Console

    from p2m.cli.display import retrieval_table
    from p2m.retrieval.students import constraints_for, rank_datasets, rank_students, spec_from_text

    if not args.task.strip():
        raise P2MError("the task description is empty")
    spec = spec_from_text(args.task)
    if args.kind == "models":
        constraints = constraints_for(spec, args.max_params, args.license, trainable_only=args.trainable)
        hits = rank_students(spec, constraints, tuple(args.catalog), args.top_k)
    else:
        hits = rank_datasets(spec, tuple(args.catalog), args.top_k)
    if args.json:
        print(json.dumps([hit.to_dict() for hit in hits], indent=2, ensure_ascii=False))
    else:
        Console().print(retrieval_table(hits, f"{args.kind} for a {spec.task_type} task"))


def command_catalog(args: argparse.Namespace) -> None:
    from p2m.retrieval.hub import refresh

    for kind in ("model", "dataset") if args.kind == "both" else (args.kind.rstrip("s"),):
        rows, path = refresh(kind, args.limit if kind == "model" else args.limit * 6)
        print(f"p2m: {rows} {kind}s from the Hub written to {path}", file=sys.stderr)


def command_tui(args: argparse.Namespace) -> None:
    from p2m.tui.app import main as tui_main

    if args.run_dir and Path(args.run_dir).exists() and not (Path(args.run_dir) / run_paths.CONFIG).exists():
        raise P2MError(f"{args.run_dir} is not a p2m run directory (it has no config.json)")
    tui_main(args.run_dir)


def command_serve(args: argparse.Namespace) -> None:
    from p2m.student.serve import StudentServer

    server = StudentServer.for_run(args.run_dir, args.host, args.port, args.runtime)
    print(f"p2m: serving {args.run_dir} at {server.url} (Ctrl-C stops)", file=sys.stderr)
    server.run()  # uvicorn handles Ctrl-C: it stops taking connections and finishes the open ones


def command_export(args: argparse.Namespace) -> None:
    if args.format == "onnx":
        from p2m.export.onnx import export_onnx as export
    else:
        from p2m.export.gguf import export_gguf as export
    result = export(Path(args.run_dir))
    print(json.dumps(result, indent=2))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in ("retrieve", "catalog"):  # those answer without loading any model library
        _quiet_libraries()
    try:
        commands = {
            "run": command_run,
            "parse": command_parse,
            "eval": command_eval,
            "serve": command_serve,
            "retrieve": command_retrieve,
            "catalog": command_catalog,
            "tui": command_tui,
            "export": command_export,
        }
        commands[args.command](args)
    except P2MError as error:
        print(f"p2m: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("p2m: interrupted", file=sys.stderr)
        return 130
    except (OSError, sqlite3.OperationalError) as error:
        if not _disk_full(error):
            raise
        print("p2m: error: disk full; free some space and run the same command again to resume", file=sys.stderr)
        return 2
    return 0


def _disk_full(error: Exception) -> bool:
    return getattr(error, "errno", None) == errno.ENOSPC or "disk is full" in str(error)


if __name__ == "__main__":
    sys.exit(main())
