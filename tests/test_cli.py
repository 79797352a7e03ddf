"""The `p2m` command as a user runs it: bad input gives one line on stderr, no traceback, exit 2."""

import subprocess
import sys

import pytest


def p2m(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    """`timeout` only catches a hang: a shared CPU may make a call many times slower than alone."""
    return subprocess.run([sys.executable, "-m", "p2m", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["run", ""], "task description is empty"),
    (["run", "   "], "task description is empty"),
    (["run", "Classify x as a or b", "--examples", "/no/such/file.jsonl"], "cannot read examples file"),
    (["run", "Classify x as a or b", "--student", "nobody/no-such-model"], "unknown student model"),
    (["run", "Classify x as a or b", "--teacher-base-url", "http://127.0.0.1:9/v1"], "cannot reach the teacher server"),
    (["run", "Classify x as a or b", "--num-examples", "0"], "--num-examples"),
    (["run", "Classify x as a or b", "--teacher", "./no-such-teacher.gguf"], "teacher file ./no-such-teacher.gguf not found"),
    (["run", "Classify x as a or b", "--teacher", "hf:no-repo-and-file"], "write hf:OWNER/REPO/FILE.gguf"),
    (["eval", "/no/such/run", "--test", "x.jsonl"], "not a p2m run directory"),
    (["run", "Classify x as a or b", "--kd-beta", "2"], "--kd-beta"),
    (["run", "Classify x as a or b", "--wmss-weights", "1,1"], "--wmss-weights"),
])
def test_user_errors_are_one_line(args, message):
    result = p2m(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("p2m: error:") and message in lines[0], result.stderr


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
    assert "How many few-shot examples per label the generator sees. (default: 3)" in " ".join(parser.format_help().split())
    options = {action.dest for action in parser._actions}
    assert {"num_examples", "channel_verifier", "max_params", "test_fraction"} <= options  # RunConfig's own fields too


def test_parse_prints_the_spec_as_json():
    import json

    result = p2m("parse", "Tag tickets.\nLabels: billing, bug\nInput: charged twice\nOutput: billing", "--teacher", "smollm2-135m")
    spec = json.loads(result.stdout)
    assert spec["task_type"] == "classification" and spec["labels"] == ["billing", "bug"]


def test_ctrl_c_keeps_finished_stages_and_says_how_to_resume(tmp_path):
    import json
    import signal
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "p2m", "run", "Classify movie reviews as positive or negative", "--num-examples", "64",
         "--out", str(tmp_path), "--teacher", "smollm2-135m", "--yes", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
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
