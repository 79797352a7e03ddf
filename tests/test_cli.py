"""The `p2m` command as a user runs it: bad input gives one line on stderr, no traceback, exit 2."""

import subprocess
import sys

import pytest


def p2m(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    """`timeout` only catches a hang: a shared CPU may make a call many times slower than alone."""
    return subprocess.run([sys.executable, "-m", "p2m", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", ""], "task description is empty"),
        (["run", "   "], "task description is empty"),
        (["run", "Classify x as a or b", "--examples", "/no/such/file.jsonl"], "cannot read examples file"),
        (["run", "Classify x as a or b", "--student", "nobody/no-such-model"], "unknown student model"),
        (
            ["run", "Classify x as a or b", "--teacher-base-url", "http://127.0.0.1:9/v1"],
            "cannot reach the teacher server",
        ),
        (["run", "Classify x as a or b", "--num-examples", "0"], "--num-examples"),
        (
            ["run", "Classify x as a or b", "--teacher", "./no-such-teacher.gguf"],
            "teacher file ./no-such-teacher.gguf not found",
        ),
        (["run", "Classify x as a or b", "--teacher", "hf:no-repo-and-file"], "write hf:OWNER/REPO/FILE.gguf"),
        (["eval", "/no/such/run", "--test", "x.jsonl"], "not a p2m run directory"),
        (["run", "Classify x as a or b", "--kd-beta", "2"], "--kd-beta"),
        (["run", "Classify x as a or b", "--wmss-weights", "1,1"], "--wmss-weights"),
    ],
)
def test_user_errors_are_one_line(args, message):
    result = p2m(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("p2m: error:") and message in lines[0], result.stderr


def test_bad_numbers_paths_and_bytes_are_one_line_errors(tmp_path):
    a_file, a_folder = tmp_path / "notes.txt", tmp_path / "mine"
    a_file.write_text("x")
    a_folder.mkdir()
    (a_folder / "thesis.tex").write_text("keep me")
    task = "Classify x as a or b"
    for args, message in [
        (["--epochs", "nan"], "--epochs must be a finite number"),
        (["--epochs", "-3"], "--epochs, --early-stopping and --learning-rate"),
        (["--learning-rate", "-0.0001"], "--learning-rate must be at least 0"),
        (["--kd-temperature", "0"], "--kd-temperature above 0"),
        (["--solutions-per-question", "0"], "--solutions-per-question must be at least 1"),
        (["--label-prototypes", "-1"], "--label-prototypes must be at least 0"),
        (["--weight-ensemble", "1.5"], "--weight-ensemble must be in"),
        (["--student", "../../x"], "unknown student model"),
        (["--out", str(a_file)], "is a file, not a directory"),
        (["--out", str(a_file / "run")], "is a file, not a directory"),
        (["--out", str(a_folder)], "not a p2m run"),
    ]:
        result = p2m("run", task, *args, "--teacher", "smollm2-135m", "--yes")
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], (args, result.stderr[-800:])
    assert [f.name for f in a_folder.iterdir()] == ["thesis.tex"]  # nothing written into the user's folder
    for args in (["--max-params", "infB"], ["--wmss-weights", "1,nan,1"]):  # argparse's own two-line usage error
        result = p2m("run", task, *args)
        assert result.returncode == 2 and "Traceback" not in result.stderr and args[0] in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "p2m", "run", b"Classify \xff\xfe reviews"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 2 and "not valid UTF-8" in result.stderr and "Traceback" not in result.stderr


def test_the_task_can_come_from_a_file(tmp_path):
    import json

    task = tmp_path / "task.txt"
    task.write_text("Classify support emails into billing or bug.\n\nInput: I was charged twice\nOutput: billing\n")
    result = p2m("parse", "--task-file", str(task), "--teacher", "smollm2-135m")
    assert result.returncode == 0, result.stderr[-1500:]
    assert json.loads(result.stdout)["labels"] == ["billing", "bug"]
    binary = tmp_path / "task.bin"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    for args, message in (
        (["--task-file", str(binary)], "is not UTF-8 text"),
        (["words", "--task-file", str(task)], "not both"),
        (["--task-file", str(tmp_path / "none.txt")], "cannot read the task file"),
    ):
        result = p2m("run", *args)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_examples_csv_with_a_byte_order_mark_or_a_long_row(tmp_path):
    from p2m.config import load_examples
    from p2m.errors import P2MError

    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufefftext,label\nGreat film,positive\n".encode("utf-8"))
    assert load_examples(bom) == [{"input": "Great film", "output": "positive"}]
    long_row = tmp_path / "long.csv"
    long_row.write_text("text\nGreat film,positive,extra\n")
    with pytest.raises(P2MError, match="row 1 has more cells than the header"):
        load_examples(long_row)


def test_unparseable_examples_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    result = p2m("run", "Classify x as a or b", "--examples", str(bad))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "examples file" in result.stderr


def test_help_lists_the_commands_and_options():
    from p2m.config import METHODS
    from p2m.stages import STAGE_NAMES, stage_classes

    assert "run" in p2m("--help").stdout and "parse" in p2m("--help").stdout
    run_help = " ".join(p2m("run", "--help").stdout.split())
    assert "--teacher-base-url" in run_help and "--push-to-hub" in run_help and "--lora" in run_help
    assert all(f"'{method}':" in run_help or f"'{method}' (" in run_help for method in METHODS)  # each method explained
    assert STAGE_NAMES == tuple(stage.name for stage in stage_classes())  # --until's choices


def test_a_run_config_field_with_a_docstring_is_a_cli_option():
    import argparse
    from dataclasses import dataclass

    from p2m.cli.options import add_config_options
    from p2m.config import RunConfig

    @dataclass
    class WithNewField(RunConfig):
        shots_per_label: int = 3
        """How many few-shot examples per label the generator sees."""

    parser = argparse.ArgumentParser()
    add_config_options(parser, WithNewField)
    assert parser.parse_args(["some task", "--shots-per-label", "5"]).shots_per_label == 5
    assert parser.parse_args(["some task"]).shots_per_label == 3
    assert "How many few-shot examples per label the generator sees. (default: 3)" in " ".join(
        parser.format_help().split()
    )
    options = {action.dest for action in parser._actions}
    assert {"num_examples", "channel_verifier", "max_params", "test_fraction"} <= options  # RunConfig's own fields too


def test_parse_prints_the_spec_as_json():
    import json

    result = p2m(
        "parse",
        "Tag tickets.\nLabels: billing, bug\nInput: charged twice\nOutput: billing",
        "--teacher",
        "smollm2-135m",
    )
    spec = json.loads(result.stdout)
    assert spec["task_type"] == "classification" and spec["labels"] == ["billing", "bug"]


def slow_run(out) -> list[str]:
    """`p2m run` long enough to be interrupted mid-synthesis (64 examples from the embedded SmolLM2)."""
    options = "--num-examples 64 --teacher smollm2-135m --yes --quiet".split()
    return [
        sys.executable,
        "-m",
        "p2m",
        "run",
        "Classify movie reviews as positive or negative",
        *options,
        "--out",
        str(out),
    ]


def test_ctrl_c_keeps_finished_stages_and_says_how_to_resume(tmp_path):
    import json
    import signal
    import time

    process = subprocess.Popen(
        slow_run(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job inherits SIGINT ignored, and Python keeps that; a terminal's Ctrl-C is not ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    stages = tmp_path / "stages.json"
    deadline = time.time() + 600
    while not (stages.exists() and "retrieve" in stages.read_text()) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # inside synthesis now
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=900)  # hangs only: a shared CPU is slow
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr and "interrupted; finished work is kept" in stderr
    assert {"parse", "retrieve"} <= set(json.loads(stages.read_text()))


def test_sigkill_mid_synthesis_resumes_with_every_paid_call_accounted_and_none_repeated(tmp_path):
    import json
    import signal
    import time

    command = [*slow_run(tmp_path), "--until", "synthesize"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger = tmp_path / "ledger.json"
    deadline = time.time() + 600  # a hang, not a slow CPU
    while time.time() < deadline and not (
        ledger.exists()
        and json.loads(ledger.read_text())["this_invocation"].get("by_stage", {}).get("synthesize", {}).get("calls", 0)
        >= 16
    ):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)  # no finally, no atexit: the ledger was saved after each batch
    process.wait(timeout=60)
    killed = json.loads(ledger.read_text())["this_invocation"]
    assert killed["open"] and killed["calls"] >= 16
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-1500:]
    data = json.loads(ledger.read_text())
    interrupted = [entry for entry in data["history"] if entry.get("interrupted")]
    journal = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    answered = sum(e["answered"] for e in journal if e["event"] == "round" and e["invocation"] == killed["invocation"])
    assert len(interrupted) == 1 and interrupted[0]["calls"] == answered >= killed["calls"]  # rebuilt from the journal
    assert (
        data["this_invocation"]["cache_hits"] >= killed["calls"]
    )  # what was paid for before the kill was not asked again
    assert len([json.loads(line) for line in (tmp_path / "data/candidates.jsonl").read_text().splitlines()]) == 64
