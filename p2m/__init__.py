"""p2m: prompt to model. Describe a task; get a small, trained, evaluated model of your own.

    from p2m import RunConfig, Pipeline
    report = Pipeline(RunConfig(task="Classify movie reviews as positive or negative")).run()
"""

from p2m.config import RunConfig, load_examples
from p2m.errors import P2MError
from p2m.pipeline import Pipeline
from p2m.spec import TaskSpec
from p2m.student import Student

__all__ = ["Pipeline", "RunConfig", "TaskSpec", "Student", "P2MError", "load_examples", "run"]


def run(task: str, **options) -> dict:
    """Run the whole pipeline for `task` with RunConfig options; returns the report dict."""
    return Pipeline(RunConfig(task=task, **options)).run()
