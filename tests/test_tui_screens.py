"""Each wizard screen on its own, fast: a stub pipeline stands in for the real one (whose end-to-end
walk is tests/test_tui.py), so the screens' logic and layout are tested in seconds. Snapshot tests
(pytest-textual-snapshot) compare each screen, light and dark, with the SVG saved under
tests/__snapshots__/; `pytest --snapshot-update` re-records them after an intended change."""

from __future__ import annotations

from pathlib import Path

import pytest

from p2m import run_paths
from p2m.files import write_json
from p2m.spec import TaskSpec
from p2m.teacher import files as teacher_files
from p2m.teacher.calls import CallCache, Teacher
from p2m.testing.fakes import FakeBackend
from p2m.tui.app import P2MApp
from p2m.tui.running import ResultsScreen, RunScreen
from p2m.tui.wizard import ModelScreen, PlanScreen, SpecScreen, TaskScreen

FINISHED_RUN = Path(__file__).parent / "data" / "tui_run"  # a real run's report.json and a few predictions
MOVIES = "Classify movie reviews as positive or negative"
SIZE = (120, 40)
THEMES = ("textual-light", "textual-dark")
DESCRIPTIONS = {
    "positive": "A movie review that praises the film, e.g. 'A joy from start to finish.'",
    "negative": "A movie review that pans the film, e.g. 'I walked out after an hour.'",
}


class StubPipeline:
    """What the screens use of a Pipeline: the parse stage writes a fixed spec; the teacher is a fake
    (for the Model screen's model-card request); nothing is trained."""

    def __init__(self, config, progress=None):
        self.config, self.run_dir = config, config.run_dir()
        self.teacher = Teacher(
            FakeBackend(replies=["A sentiment classifier for movie reviews."] * 4),
            CallCache(self.run_dir / "stub-cache.sqlite"),
        )

    def run(self, until=None) -> dict:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        spec = TaskSpec(MOVIES, "classification", ["positive", "negative"], label_descriptions=DESCRIPTIONS)
        write_json(self.run_dir / run_paths.SPEC, {**spec.to_dict(), "warnings": []})
        return {}

    def replace_spec(self, spec) -> None:
        write_json(self.run_dir / run_paths.SPEC, {**spec.to_dict(), "warnings": []})


class StubbedApp(P2MApp):
    def build_pipeline(self, progress=None):
        self.pipeline = StubPipeline(self.config, progress)
        return self.pipeline


def app_at(screen: str, theme: str) -> P2MApp:
    """The app with `screen` on top, as a user reaches it (Task: typed, Spec: parsed, ...)."""
    if screen == "results":
        app = P2MApp(str(FINISHED_RUN))
    else:
        app = StubbedApp("snapshot-run", teacher="smollm2-135m")
        app.config.task = MOVIES
    app.theme = theme
    app.animation_level = "none"  # the indeterminate progress bars stand still for a snapshot
    return app


async def reach(pilot, screen: str) -> None:
    app = pilot.app
    if screen == "results":
        return await until(
            pilot, lambda: isinstance(app.screen, ResultsScreen) and app.screen.query_one("#comparison").row_count
        )
    app.screen.query_one("#task").text = MOVIES
    steps = {"spec": SpecScreen, "model": ModelScreen, "plan": PlanScreen, "run": RunScreen}
    if screen == "task":
        return await pilot.pause()
    app.build_pipeline()
    app.spec = TaskSpec(MOVIES, "classification", ["positive", "negative"])
    pushed = steps[screen](start=False) if screen == "run" else steps[screen]()
    await app.push_screen(pushed)
    ready = {
        "spec": lambda: pushed.parsed is not None,
        "model": lambda: pushed.hits,
        "plan": lambda: True,
        "run": lambda: True,
    }[screen]
    await until(pilot, ready)


async def until(pilot, condition, tries: int = 400) -> None:
    for _ in range(tries):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.05)
    raise AssertionError("the screen did not get ready")


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("screen", ["task", "spec", "model", "plan", "run", "results"])
def test_screen_matches_its_snapshot(snap_compare, monkeypatch, tmp_path, screen, theme):
    monkeypatch.chdir(tmp_path)  # the run dir shows as "snapshot-run" wherever the test runs
    # the Plan screen lists the teacher packs on this machine: those of p2m[embedded], whatever else is installed
    monkeypatch.setattr(teacher_files, "preset_installed", lambda name: name in ("qwen2.5-coder-1.5b", "smollm2-135m"))

    async def run_before(pilot):
        await reach(pilot, screen)

    assert snap_compare(app_at(screen, theme), run_before=run_before, terminal_size=SIZE)


def check_at(screen: str, check) -> None:
    """Open the app at `screen` and run `check(app)` there."""
    import asyncio

    async def scenario():
        app = app_at(screen, THEMES[0])
        async with app.run_test(size=SIZE) as pilot:
            await reach(pilot, screen)
            check(app)

    asyncio.run(scenario())


def test_the_model_screen_previews_the_run_s_own_choice(monkeypatch, tmp_path):
    """The chosen student first, as the Retrieve stage would choose it (same function, same card)."""
    from p2m.retrieval.students import shortlist

    monkeypatch.chdir(tmp_path)

    def check(app):
        chosen, _ = shortlist(app.spec, "auto", None, (), "A sentiment classifier for movie reviews.")
        assert app.screen.query_one("#students").get_row_at(0)[0] == chosen.id

    check_at("model", check)


def test_the_plan_screen_estimates_what_the_run_will_spend(monkeypatch, tmp_path):
    from p2m.plan import estimate_spend

    monkeypatch.chdir(tmp_path)

    def check(app):
        calls = estimate_spend(app.config, None, can_score=True)["calls"]  # a llama.cpp preset: no price, scores text
        assert f"~{calls} teacher calls" in str(app.screen.query_one("#estimate").render())
        assert isinstance(app.screen_stack[1], TaskScreen)

    check_at("plan", check)


def test_label_descriptions_are_edited_on_the_spec_screen(monkeypatch, tmp_path):
    from p2m.files import read_json

    monkeypatch.chdir(tmp_path)

    def check(app):
        pushed = []
        app.push_screen = pushed.append  # stay on the Spec screen: only what Next writes is checked
        box = app.screen.query_one("#label-descriptions")
        assert box.text.splitlines()[0] == f"positive: {DESCRIPTIONS['positive']}"  # the parsed ones, one per line
        box.text = "positive: praises the film\nsplendid: not a label"
        app.screen.action_next()
        assert not pushed  # refused with the spec's own message
        box.text = "positive: praises the film\n\nnegative: pans it"
        app.screen.action_next()
        assert pushed
        spec = read_json(app.pipeline.run_dir / run_paths.SPEC)
        assert spec["label_descriptions"] == {"positive": "praises the film", "negative": "pans it"}

    check_at("spec", check)
