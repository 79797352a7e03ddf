"""Run p2m from Python: the same pipeline the CLI drives."""

from p2m import Pipeline, RunConfig, Student, load_examples

config = RunConfig(
    task="Classify customer emails into billing, bug, feature request",
    examples=load_examples("examples/support_emails.jsonl"),
    num_examples=48,
)
report = Pipeline(config).run()
print(report["student"]["metrics"]["all"])

student = Student(report["paths"]["model"])
print(student.predict(["My card was billed the wrong amount."]))
