"""The planning screens: Task, Spec, Model & data, Plan. Each edits part of the app's RunConfig."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, RadioButton, RadioSet, Select, Static, TextArea

from p2m import run_paths
from p2m.config import METHODS, load_examples
from p2m.errors import P2MError
from p2m.files import read_json
from p2m.spec import TASK_TYPES, SpecError, TaskSpec
from p2m.tui.base import WizardScreen


class TaskScreen(WizardScreen):
    STEP = 0

    def body(self) -> ComposeResult:
        yield Label("What should the model do? Plain words; labels and Input:/Output: pairs are read from it.")
        yield TextArea(self.app.config.task, id="task")
        yield Label("Examples (optional): an input and its output, then Add (enter); select a row to edit it.")
        with Horizontal(classes="row"):
            yield Input(placeholder="example input", id="example-input")
            yield Input(placeholder="output / label", id="example-output")
            yield Button("Add", id="add")
            yield Button("Delete", id="delete")
        table = DataTable(id="examples", cursor_type="row")
        table.add_columns("input", "output")
        yield table
        with Horizontal(classes="row"):
            yield Input(placeholder="import examples from a JSONL or CSV file", id="import-path")
            yield Button("Import", id="import")
        yield Button("Next: parse the task ▸", id="next", variant="primary")

    def on_mount(self) -> None:
        for example in self.app.config.examples:
            self.query_one("#examples", DataTable).add_row(example["input"], example["output"])
        self.query_one("#task", TextArea).focus()

    @on(Button.Pressed, "#add")
    @on(Input.Submitted, "#example-output")
    def add_example(self) -> None:
        source, target = self.query_one("#example-input", Input), self.query_one("#example-output", Input)
        if source.value.strip():
            self.query_one("#examples", DataTable).add_row(source.value.strip(), target.value.strip())
            source.value = target.value = ""
            source.focus()

    @on(Button.Pressed, "#delete")
    def delete_example(self) -> None:
        table = self.query_one("#examples", DataTable)
        if table.row_count:
            table.remove_row(table.coordinate_to_cell_key(table.cursor_coordinate).row_key)

    @on(DataTable.RowSelected, "#examples")
    def edit_example(self, event: DataTable.RowSelected) -> None:
        """Editing = taking the row out into the fields; Add puts it back."""
        source, target = event.data_table.get_row(event.row_key)
        event.data_table.remove_row(event.row_key)
        self.query_one("#example-input", Input).value, self.query_one("#example-output", Input).value = source, target

    @on(Button.Pressed, "#import")
    @on(Input.Submitted, "#import-path")
    def import_examples(self) -> None:
        path = self.query_one("#import-path", Input).value.strip()
        try:
            rows = load_examples(path)
        except P2MError as error:
            return self.fail(error)
        for row in rows:
            self.query_one("#examples", DataTable).add_row(row["input"], row["output"])
        self.app.notify(f"imported {len(rows)} examples from {path}")

    def action_next(self) -> None:
        table = self.query_one("#examples", DataTable)
        self.app.config.task = self.query_one("#task", TextArea).text.strip()
        self.app.config.examples = [
            {"input": i, "output": o} for i, o in (table.get_row_at(r) for r in range(table.row_count))
        ]
        if self.app.build_pipeline() is not None:
            self.app.push_screen(SpecScreen())


class SpecScreen(WizardScreen):
    STEP = 1

    def __init__(self):
        super().__init__()
        self.parsed: dict | None = None  # spec.json as the parse stage wrote it; None while parsing

    def body(self) -> ComposeResult:
        yield Static("Reading the task with the teacher…", id="status")
        yield Label("Instruction")
        yield Input(id="instruction")
        with Horizontal(classes="row"):
            with Vertical():
                yield Label("Task type")
                yield Select([(t, t) for t in TASK_TYPES], id="task-type", allow_blank=False)
            with Vertical():
                yield Label("Labels (comma-separated; classification)")
                yield Input(id="labels")
        yield Label("What each label means, one per line as  label: description  (the teacher's; edit freely)")
        yield TextArea(id="label-descriptions")
        with Horizontal(classes="row"):
            with Vertical():
                yield Label("One input is")
                yield Input(id="input-description")
            with Vertical():
                yield Label("One output is")
                yield Input(id="output-format")
        yield Static("", id="warnings")
        with Horizontal(classes="row"):
            yield Button("Re-parse", id="reparse")
            yield Button("Next: model & data ▸", id="next", variant="primary")

    def on_mount(self) -> None:
        self.parse(again=False)

    @work(thread=True, exclusive=True, group="parse")
    def parse(self, again: bool) -> None:
        pipeline = self.app.pipeline
        try:
            if again:
                (pipeline.run_dir / run_paths.SPEC).unlink(missing_ok=True)
            pipeline.run(until="parse")
            self.app.call_from_thread(self.show, read_json(pipeline.run_dir / run_paths.SPEC))
        except P2MError as error:
            self.app.call_from_thread(self.fail, error)

    def show(self, spec: dict) -> None:
        self.parsed = spec
        self.query_one("#instruction", Input).value = spec["instruction"]
        self.query_one("#task-type", Select).value = spec["task_type"]
        self.query_one("#labels", Input).value = ", ".join(spec["labels"])
        self.query_one("#input-description", Input).value = spec["input_description"]
        self.query_one("#output-format", Input).value = spec["output_format"]
        descriptions = spec.get("label_descriptions") or {}
        self.query_one("#label-descriptions", TextArea).text = "\n".join(
            f"{label}: {text}" for label, text in descriptions.items()
        )
        warnings = spec.get("warnings") or []
        self.query_one("#warnings", Static).update(
            "\n".join(f"[yellow]⚠ {w}[/]" for w in warnings) or "[green]parsed without warnings[/]"
        )
        self.query_one("#status", Static).update(
            f"Parsed; {len(spec['examples'])} examples. Edit anything, then ctrl+n."
        )

    @on(Button.Pressed, "#reparse")
    def reparse(self) -> None:
        self.query_one("#status", Static).update("Reading the task with the teacher…")
        self.parse(again=True)

    def action_next(self) -> None:
        if self.parsed is None:
            return self.app.notify("still parsing; a moment")
        edited = {
            **self.parsed,
            "instruction": self.query_one("#instruction", Input).value,
            "task_type": self.query_one("#task-type", Select).value,
            "labels": [l.strip() for l in self.query_one("#labels", Input).value.split(",") if l.strip()],
            "input_description": self.query_one("#input-description", Input).value,
            "output_format": self.query_one("#output-format", Input).value,
        }
        try:
            edited["label_descriptions"] = descriptions_from_text(self.query_one("#label-descriptions", TextArea).text)
            spec = TaskSpec.from_dict(edited)
        except SpecError as error:
            return self.fail(error)
        if spec.to_dict() != TaskSpec.from_dict(self.parsed).to_dict():
            self.app.pipeline.replace_spec(spec)
        self.app.spec = spec
        self.app.push_screen(ModelScreen())


def descriptions_from_text(text: str) -> dict[str, str]:
    """'label: description' lines (blank lines skipped) as a dict; TaskSpec checks the labels."""
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            label, colon, description = line.partition(":")
            if not colon or not label.strip():
                raise SpecError(f"label description line {number} is not 'label: description'")
            out[label.strip()] = description.strip()
    return out


class ModelScreen(WizardScreen):
    STEP = 2

    def __init__(self):
        super().__init__()
        self.hits: dict = {}  # student id -> its search Hit, as shown in the table

    def body(self) -> ComposeResult:
        yield Label(
            "Student candidates (BM25 over the model catalog, with constraints); select one, or type an id or path."
        )
        students = DataTable(id="students", cursor_type="row")
        students.add_columns("id", "arch", "params", "licence", "local")
        yield students
        yield Static("", id="why")
        yield Input(
            value=self.app.config.student, placeholder="auto, a Hub id, or a local model directory", id="student"
        )
        yield Label("Datasets to train on as well (comma-separated Hub ids or local files; optional)")
        with Horizontal(classes="row"):
            yield Input(
                value=", ".join(self.app.config.datasets), placeholder="e.g. ./reviews.csv, imdb", id="datasets"
            )
            yield Button("Preview", id="preview")
        yield Static("", id="dataset-hits")
        preview = DataTable(id="preview-rows")
        preview.add_columns("input", "output")
        yield preview
        yield Button("Next: plan ▸", id="next", variant="primary")

    def on_mount(self) -> None:
        self.search()

    @work(thread=True, group="search")
    def search(self) -> None:
        """The Retrieve stage's own choice and ranking (the teacher's model card included: a call the run
        then finds in the cache), the chosen student first."""
        from p2m.retrieval.search import Hit
        from p2m.retrieval.students import hypothetical_card, rank_datasets, shortlist

        spec, config = self.app.spec, self.app.config
        try:
            card = hypothetical_card(self.app.pipeline.teacher, spec) if config.student == "auto" else ""
            chosen, candidates = shortlist(spec, config.student, config.max_params, tuple(config.catalog), card)
        except P2MError as error:
            return self.app.call_from_thread(self.fail, error)
        hits = ([Hit(**chosen.hit)] if chosen.hit else []) + [hit for hit in candidates if hit.id != chosen.id]
        self.app.call_from_thread(self.show, hits, rank_datasets(spec, tuple(config.catalog), card=card))

    def show(self, hits: list, datasets: list) -> None:
        table = self.query_one("#students", DataTable)
        self.hits = {hit.id: hit for hit in hits}
        for hit in hits:
            table.add_row(
                hit.id,
                hit.arch,
                f"{hit.params / 1e6:.0f}M" if hit.params else "?",
                hit.license or "?",
                "yes" if hit.local else "no",
                key=hit.id,
            )
        text = "; ".join(f"{h.id} ({', '.join(h.matched_terms)})" for h in datasets)
        self.query_one("#dataset-hits", Static).update(
            f"[dim]catalog datasets: {text or 'none in the catalog (p2m catalog refresh)'}[/]"
        )

    @on(DataTable.RowHighlighted, "#students")
    def explain(self, event: DataTable.RowHighlighted) -> None:
        hit = self.hits[str(event.row_key.value)]
        self.query_one("#why", Static).update(
            f"[dim]{hit.id}: {hit.why}; matched {', '.join(hit.matched_terms) or 'nothing'}; "
            f"{'; '.join(hit.constraints_passed)}[/]"
        )

    @on(DataTable.RowSelected, "#students")
    def pick(self, event: DataTable.RowSelected) -> None:
        self.query_one("#student", Input).value = str(event.row_key.value)

    @on(Button.Pressed, "#preview")
    def preview(self) -> None:
        sources = [s.strip() for s in self.query_one("#datasets", Input).value.split(",") if s.strip()]
        if sources:
            self.load_preview(sources[0])

    @work(thread=True, group="preview")
    def load_preview(self, source: str) -> None:
        from p2m.retrieval.dataset_rows import guess_mapping, load_train_split, to_rows
        from p2m.retrieval.students import offline

        try:
            dataset = load_train_split(source, offline())
            mapping = guess_mapping(dataset, self.app.spec)
            if mapping is None:
                raise P2MError(f"{source}: columns {dataset.column_names}; the teacher will map them during the run")
            rows = to_rows(dataset, mapping, self.app.spec, source, limit=5)
        except P2MError as error:
            return self.app.call_from_thread(self.fail, error)
        self.app.call_from_thread(self.show_preview, rows, f"{mapping.input_column} → {mapping.output_column}")

    def show_preview(self, rows: list[dict], mapping: str) -> None:
        table = self.query_one("#preview-rows", DataTable)
        table.clear()
        for row in rows:
            table.add_row(row["input"][:80], row["output"][:40])
        self.app.notify(f"column mapping preview: {mapping}")

    def action_next(self) -> None:
        self.app.config.student = self.query_one("#student", Input).value.strip() or "auto"
        self.app.config.datasets = [s.strip() for s in self.query_one("#datasets", Input).value.split(",") if s.strip()]
        self.app.push_screen(PlanScreen())


class PlanScreen(WizardScreen):
    STEP = 3

    def teachers(self) -> list[tuple[str, str]]:
        """(choice, label): each embedded preset installed, with what a call costs here, then the APIs."""
        from p2m.teacher.files import PRESETS, STRONGEST_FIRST, preset_installed

        presets = [
            (name, f"{PRESETS[name].title}, on this machine (~{PRESETS[name].seconds_per_call} s a call on 2 cores)")
            for name in STRONGEST_FIRST
            if preset_installed(name)
        ]
        return presets + [
            ("openai", "OpenAI (key from OPENAI_API_KEY)"),
            ("server", "OpenAI-compatible server (vLLM, llama.cpp, Ollama)"),
        ]

    def body(self) -> ComposeResult:
        config = self.app.config
        choices = self.teachers()
        wanted = "server" if config.teacher_base_url else config.teacher
        if wanted not in [choice for choice, _ in choices]:
            wanted = choices[0][0]
        yield Label("Teacher")
        with RadioSet(id="teacher"):
            for choice, label in choices:
                yield RadioButton(label, value=choice == wanted)
        with Horizontal(classes="row"):
            yield Input(placeholder="model name (optional)", id="teacher-model")
            yield Input(
                value=config.teacher_base_url or "", placeholder="server URL (http://host:port/v1)", id="base-url"
            )
        with Horizontal(classes="row"):
            for field, label in (
                ("num_examples", "examples"),
                ("votes", "votes"),
                ("max_teacher_calls", "max teacher calls"),
            ):
                with Vertical():
                    yield Label(label)
                    yield Input(str(getattr(config, field) or ""), id=field.replace("_", "-"), type="integer")
            with Vertical():
                yield Label("budget $")
                yield Input(str(config.budget_usd or ""), id="budget-usd", type="number")
            with Vertical():
                yield Label("method")
                yield Select([(m, m) for m in METHODS], value=config.method, allow_blank=False, id="method")
        yield Static("", id="estimate")
        yield Button("Start the run ▸", id="next", variant="success")

    def on_mount(self) -> None:
        self.update_estimate()
        self.query_one("#num-examples", Input).focus()

    def read(self) -> None:
        """The form's values into the app's config."""
        config = self.app.config
        choice = self.teachers()[self.query_one("#teacher", RadioSet).pressed_index][0]
        model = self.query_one("#teacher-model", Input).value.strip()
        config.teacher = model or (choice if choice not in ("openai", "server") else "auto")
        config.teacher_base_url = (
            self.query_one("#base-url", Input).value.strip() or None if choice == "server" else None
        )
        for field in ("num_examples", "votes", "max_teacher_calls"):
            value = self.query_one(f"#{field.replace('_', '-')}", Input).value.strip()
            setattr(
                config, field, int(value) if value else None if field == "max_teacher_calls" else getattr(config, field)
            )
        try:  # half-typed numbers ("", "-", ".") mean no budget yet
            config.budget_usd = float(self.query_one("#budget-usd", Input).value) or None
        except ValueError:
            config.budget_usd = None
        if config.budget_usd is not None and config.budget_usd < 0:
            config.budget_usd = None
        config.method = self.query_one("#method", Select).value

    @on(Input.Changed)
    @on(RadioSet.Changed)
    @on(Select.Changed)
    def update_estimate(self) -> None:
        from p2m.plan import planned_spend
        from p2m.teacher.files import PRESETS

        self.read()
        config = self.app.config
        spend = planned_spend(config)
        cost = f"≈ ${spend['cost_usd']:.3f}" if spend["cost_usd"] is not None else "no charge (local or unknown price)"
        if config.teacher in PRESETS:  # at most; many calls are far shorter, cached ones free
            cost += (
                f", at most ~{spend['calls'] * PRESETS[config.teacher].seconds_per_call / 60:.0f} min of this machine"
            )
        caps = [f"{config.max_teacher_calls} calls"] * bool(config.max_teacher_calls) + [
            f"${config.budget_usd}"
        ] * bool(config.budget_usd)
        budget = f"; stops cleanly at {' or '.join(caps)}" if caps else ""
        self.query_one("#estimate", Static).update(
            f"Estimate before anything is spent: ~[b]{spend['calls']}[/] teacher calls, ~{spend['tokens']:,} tokens, "
            f"{cost}{budget}. Cached calls are free."
        )

    def action_next(self) -> None:
        self.read()
        self.app.start_run()
