"""The code's shape: no import circles between p2m's modules, no function over 60 lines, a task's type
compared nowhere but in its kind (p2m/tasks/) and a student's kind nowhere but in p2m/student/."""

from __future__ import annotations

import ast
from pathlib import Path

from p2m.student.kinds import STUDENT_KINDS
from p2m.tasks import TaskType

ROOT = Path(__file__).resolve().parents[1]
# Installed package -> folder (pyproject's package-dir): the design card's top-level folders map into p2m.
PACKAGE_DIRS = {
    "p2m": ROOT / "p2m",
    "p2m.retrieval": ROOT / "retrieval",
    "p2m.tui": ROOT / "tui",
    "p2m.prompts": ROOT / "prompts",
}
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGE_DIRS.items():
        for file in folder.rglob("*.py"):
            parts = [p for p in file.relative_to(folder).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = file
    return found


def runtime_nodes(tree: ast.AST):
    """Every node of `tree` but those under `if TYPE_CHECKING:` (imports for annotations only)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            yield from (n for child in node.orelse for n in [child, *runtime_nodes(child)])
            continue
        yield node
        yield from runtime_nodes(node)


def import_graph() -> dict[str, set[str]]:
    """Module -> the p2m modules it imports anywhere in its body (lazy imports inside functions too:
    a circle dodged by importing late is still a circle; imports for annotations only are no edge).
    `from pkg import mod` is an edge to the module; a package's __init__ is not counted as imported by
    its own submodules."""
    mods = modules()
    graph = {}
    for name, file in mods.items():
        edges = set()
        for node in runtime_nodes(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("p2m"):
                submodules = {f"{node.module}.{alias.name}" for alias in node.names} & mods.keys()
                edges |= submodules or {node.module}
            elif isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names if alias.name.startswith("p2m")}
        graph[name] = {edge for edge in edges if edge in mods and edge != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    graph = import_graph()
    assert "p2m.stages.base" in graph["p2m.stages.verify"]  # the graph sees real edges
    assert circles(graph) == []


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_function_is_longer_than_60_lines():
    long = []
    for name, file in modules().items():
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if (
                isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
            ):
                long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert long == []


def names_a_task_type(node: ast.AST) -> bool:
    """A task type by its name: "math", TaskType.MATH, or a tuple, list or set holding one."""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(names_a_task_type(item) for item in node.elts)
    if isinstance(node, ast.Attribute):
        return ast.unparse(node.value) == "TaskType"
    return isinstance(node, ast.Constant) and node.value in {t.value for t in TaskType}


def test_task_types_are_compared_only_in_their_kinds():
    """What differs between task kinds lives in p2m/tasks/: a stage asks the kind (`spec.kind`) instead
    of testing which type it has (comparing two task types, as parse does with two readings, is fine)."""
    found = []
    for name, file in modules().items():
        if name.startswith("p2m.tasks"):
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and any(names_a_task_type(n) for n in [node.left, *node.comparators]):
                found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert found == []


def test_the_task_type_check_sees_each_way_of_writing_it():
    for code in ('spec.task_type == "math"', 'spec["task_type"] != TaskType.MATH', 'x in ("extraction", "math")'):
        comparison = ast.parse(code).body[0].value
        assert any(names_a_task_type(n) for n in [comparison.left, *comparison.comparators])
    assert not names_a_task_type(ast.parse('"CAUSAL_LM"').body[0].value)


def names_a_student_kind(comparison: ast.Compare) -> bool:
    """`kind == "span"`, `student.kind != "causal"`, `meta["kind"] in ("classifier", ...)`."""
    operands = [comparison.left, *comparison.comparators]
    constants = [n for o in operands for n in ([o] if isinstance(o, ast.Constant) else getattr(o, "elts", []))]
    return any(ast.unparse(o).endswith(("kind", "kind']")) for o in operands) and any(
        isinstance(c, ast.Constant) and c.value in STUDENT_KINDS for c in constants
    )


def test_student_kinds_are_compared_only_in_the_student_package():
    """What differs between student kinds lives in p2m/student/kinds.py: train, evaluate, serve and
    export ask the kind (`kind.generates`, `kind.export_format`, ...)."""
    found = []
    for name, file in modules().items():
        if name.startswith("p2m.student"):
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and names_a_student_kind(node):
                found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert found == []
    for code in ('student.kind == "causal"', 'kind != "span"', 'meta["kind"] in ("classifier", "span")'):
        assert names_a_student_kind(ast.parse(code).body[0].value)
    assert not names_a_student_kind(ast.parse('entry.kind == "model"').body[0].value)


def test_the_spec_loads_no_torch():
    """p2m.spec (and with it p2m.tasks and the student kinds' names) imports without torch, so the CLI's
    quick commands stay quick."""
    import subprocess
    import sys

    code = "import sys, p2m.spec, p2m.tasks, p2m.student.kinds; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )
