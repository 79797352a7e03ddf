"""The files of a run directory, named once. Stages declare which of these they read and write; the
pipeline, the CLI, the TUI and the server find a run's parts here rather than by string literals."""

CONFIG = "config.json"  # the RunConfig a run was last invoked with
LOCK = ".p2m.lock"  # held by the p2m process working in the run dir; holds its pid
STAGES = "stages.json"  # each finished stage's fingerprint and time
LEDGER = "ledger.json"  # teacher calls, tokens and cost: this invocation and every earlier one
LEDGER_JOURNAL = "ledger.jsonl"  # append-only: every request sent and every round of answers, as it happens
SPEC = "spec.json"  # the parsed TaskSpec
STUDENT = "student.json"  # the chosen student and the ranked candidates
RETRIEVED = "data/retrieved.jsonl"  # real dataset rows
DATASETS = "data/datasets.json"  # what each dataset source gave
CANDIDATES = "data/candidates.jsonl"  # synthetic inputs before verification
TRAIN = "data/train.jsonl"
TEST = "data/test.jsonl"  # held-out: verified synthetic rows and the user's examples
REJECTED = "data/rejected.jsonl"  # dropped candidates, each with its reason
VERIFY_SUMMARY = "data/verify_summary.json"
DATASET = "data/hf"  # train/test/rejected as a datasets.DatasetDict, with its card (README.md)
MODEL = "model"  # the trained student, save_pretrained layout
MODEL_META = "model/p2m.json"  # how the student is prompted and what it was trained from
MODEL_CARD = "model/README.md"
TRAIN_WORK = "train/work"  # checkpoints while training; removed when it finishes
TRAIN_METRICS = "train/metrics.json"
EVAL = "eval"  # held-out evaluation; eval/<test file stem>/ for p2m eval --test
EVAL_METRICS = "eval/metrics.json"
EVAL_PREDICTIONS = "eval/predictions.jsonl"
EXPORT = "export"  # the exports of the trained student; removed when Train writes a new one
ONNX = f"{EXPORT}/onnx"  # p2m export --format onnx: model.onnx, tokenizer, labels, check.json
GGUF = f"{EXPORT}/gguf"  # p2m export --format gguf: model.gguf and an Ollama Modelfile
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
