"""The Textual wizard, headless (`App.run_test` + Pilot), on the embedded teacher with a tiny budget:
task -> spec -> model & data -> plan -> run -> results, and cancel-then-resume. Each screen is saved
as an SVG screenshot under $P2M_SCREENSHOTS (default: the test's tmp dir)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from p2m.embedded import MINILM_ID, MPNET_ID, embedded_installed
from p2m.files import read_json
from p2m.tui.app import P2MApp
from p2m.tui.running import ResultsScreen, RunScreen
from p2m.tui.wizard import ModelScreen, PlanScreen, SpecScreen, TaskScreen

MOVIES = "Classify movie reviews as positive or negative"
FAST_TEACHER = "smollm2-135m"
SIZE = (120, 40)


def screenshots(tmp_path: Path) -> Path:
    path = Path(os.environ.get("P2M_SCREENSHOTS") or tmp_path / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


async def wait_for(pilot, condition, timeout: float = 1800) -> None:
    """Let the app work (workers in threads) until `condition()` holds."""
    for _ in range(int(timeout / 0.25)):
        if condition():
            return
        await pilot.pause(0.25)
    raise AssertionError("timed out waiting for the app")


def text_of(app, selector: str) -> str:
    """The widget's rendered text; "" while the screen has not composed it yet."""
    found = app.screen.query(selector)
    return str(found.first().render()) if found else ""


def rows_of(app, selector: str) -> int:
    found = app.screen.query(selector)
    return found.first().row_count if found else 0


async def fill(pilot, selector: str, value: str) -> None:
    widget = pilot.app.screen.query_one(selector)
    widget.value = value
    await pilot.pause()


async def walk_to_plan(pilot, shots: Path) -> str:
    """Task -> Plan as a user would; returns the student the Model screen put first."""
    app = pilot.app
    assert isinstance(app.screen, TaskScreen)
    await pilot.click("#task")
    await pilot.press(*MOVIES)
    await fill(pilot, "#example-input", "A joyless, plodding mess.")
    await fill(pilot, "#example-output", "negative")
    await pilot.click("#add")
    await fill(pilot, "#example-input", "Warm, funny and wise.")
    await fill(pilot, "#example-output", "positive")
    await pilot.press("tab", "enter")  # keyboard: from the output field to Add
    assert app.screen.query_one("#examples").row_count == 2
    app.save_screenshot("1-task.svg", str(shots))
    await pilot.press("ctrl+n")

    await wait_for(pilot, lambda: isinstance(app.screen, SpecScreen) and app.screen.parsed is not None)
    assert app.screen.query_one("#task-type").value == "classification"
    assert app.screen.query_one("#labels").value == "positive, negative"
    app.screen.query_one(
        "#label-descriptions"
    ).text = "positive: a review that praises the film\n\nnegative: a review that pans it"
    app.save_screenshot("2-spec.svg", str(shots))
    await pilot.press("ctrl+n")

    await wait_for(pilot, lambda: isinstance(app.screen, ModelScreen) and rows_of(app, "#students") > 0)
    first = app.screen.query_one("#students").get_row_at(0)[0]
    assert first in (MPNET_ID, MINILM_ID) and embedded_installed(first)  # the run's own choice: weights on this machine
    assert "weights on this machine" in text_of(app, "#why")
    app.save_screenshot("3-model.svg", str(shots))
    await pilot.press("ctrl+n")

    await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen) and text_of(app, "#estimate"))
    await fill(pilot, "#num-examples", "6")
    await fill(pilot, "#votes", "1")
    # parse, label descriptions, HyDE, 2 subject lists, 6 inputs, 6 x 2 label likelihoods, greedy answers for 1 held-out item and 2 examples
    assert "~26 teacher calls" in text_of(app, "#estimate")
    assert "no charge" in text_of(app, "#estimate")
    await fill(pilot, "#budget-usd", "0.5")
    assert "stops cleanly at $0.5" in text_of(app, "#estimate") and app.config.budget_usd == 0.5
    app.save_screenshot("4-plan.svg", str(shots))
    return first


def test_wizard_walks_from_task_to_results(tmp_path):
    shots = screenshots(tmp_path)
    previewed: list[str] = []

    async def scenario():
        app = P2MApp(str(tmp_path / "run"), teacher=FAST_TEACHER)
        async with app.run_test(size=SIZE) as pilot:
            previewed.append(await walk_to_plan(pilot, shots))
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen) and "calls" in text_of(app, "#ledger"))
            await wait_for(pilot, lambda: "done" in text_of(app, "#note-synthesize"))
            app.save_screenshot("5-run.svg", str(shots))
            await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen) and rows_of(app, "#comparison"))
            assert (
                app.screen.query_one("#comparison").row_count == 5
            )  # teacher, student, majority, MiniLM zero-shot by name and described
            assert "accuracy" in str(app.screen.query_one("#comparison").ordered_columns[2].label)
            assert "report.md" in text_of(app, "#paths")
            await pilot.click("#try")
            await pilot.press(*"What a wonderful film.", "enter")
            await wait_for(pilot, lambda: "student:" in text_of(app, "#answer"), timeout=600)
            assert text_of(app, "#answer").split("student:")[1].strip() in ("positive", "negative")
            app.save_screenshot("6-results.svg", str(shots))

    asyncio.run(scenario())
    report = read_json(tmp_path / "run" / "report.json")
    assert report["spec"]["labels"] == ["positive", "negative"]
    assert report["spec"]["label_descriptions"] == {
        "positive": "a review that praises the film",
        "negative": "a review that pans it",
    }
    assert (
        read_json(tmp_path / "run" / "student.json")["chosen"]["id"] == previewed[0]
    )  # the Model screen showed the run's choice
    assert report["student"]["model"]
    assert sorted(p.name for p in shots.glob("*.svg")) == [
        "1-task.svg",
        "2-spec.svg",
        "3-model.svg",
        "4-plan.svg",
        "5-run.svg",
        "6-results.svg",
    ]

    async def reopen():
        app = P2MApp(str(tmp_path / "run"))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: rows_of(app, "#comparison"))
            assert isinstance(app.screen, ResultsScreen)  # a finished run reopens at Results

    asyncio.run(reopen())


def test_cancel_keeps_finished_stages_and_reopening_resumes(tmp_path):
    run_dir = tmp_path / "run"

    async def cancel():
        app = P2MApp(str(run_dir), teacher=FAST_TEACHER)
        async with app.run_test(size=SIZE) as pilot:
            await walk_to_plan(pilot, screenshots(tmp_path))
            await fill(pilot, "#num-examples", "12")
            await pilot.press("ctrl+n")
            await wait_for(
                pilot, lambda: isinstance(app.screen, RunScreen) and "done" in text_of(app, "#note-retrieve")
            )
            await pilot.click("#cancel")
            await wait_for(pilot, lambda: app.screen.query("#start") and not app.screen.query_one("#start").disabled)
            log = " ".join(line.text for line in app.screen.query_one("#log").lines)
            assert "cancelled; finished work is kept" in log

    asyncio.run(cancel())
    stages = read_json(run_dir / "stages.json")
    assert {"parse", "retrieve"} <= set(stages) and "report" not in stages

    async def resume():
        app = P2MApp(str(run_dir))
        async with app.run_test(size=SIZE) as pilot:
            assert isinstance(app.screen, RunScreen)  # an unfinished run reopens at Run
            await pilot.click("#start")
            # Fully composed before the test leaves: Textual's Header errors if torn down mid-mount.
            await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen) and rows_of(app, "#comparison"))
            run_screen = app.screen_stack[-2]
            assert "up to date" in str(run_screen.query_one("#note-parse").render())  # finished stages skipped

    asyncio.run(resume())
    assert (run_dir / "report.json").exists()
    ledger = read_json(run_dir / "ledger.json")
    assert ledger["history"][-1]["cache_hits"] >= 1  # the calls made before the cancel were not made again
