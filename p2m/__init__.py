"""p2m: prompt to model. Describe a task; get a small, trained, evaluated model of your own.

from p2m import RunConfig, Pipeline
report = Pipeline(RunConfig(task="Classify movie reviews as positive or negative")).run()
"""

from p2m.config import RunConfig, load_examples
from p2m.errors import P2MError
from p2m.spec import TaskSpec

__all__ = ["Pipeline", "RunConfig", "TaskSpec", "Student", "P2MError", "load_examples", "run"]


def __getattr__(name: str):
    """`Pipeline` and `Student` load torch and transformers: imported on first use, so `p2m retrieve`
    and `p2m --help` stay fast."""
    if name == "Pipeline":
        from p2m.pipeline import Pipeline

        return Pipeline
    if name == "Student":
        from p2m.student.model import Student

        return Student
    raise AttributeError(f"module 'p2m' has no attribute {name!r}")


def run(task: str, **options) -> dict:
    """Run the whole pipeline for `task` with RunConfig options; returns the report dict."""
    from p2m.pipeline import Pipeline

    return Pipeline(RunConfig(task=task, **options)).run()
