"""The extractive student: reading an input as question and passage, answers as spans, the span
head trained on the real MiniLM, and an extraction run that trains, evaluates, exports and serves one."""

import json
import random
from dataclasses import replace

import openai
import pytest
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from p2m import Pipeline, RunConfig, Student
from p2m.embedded import MINILM_ID, resolve_model
from p2m.export.onnx import OnnxStudent, export_onnx
from p2m.files import read_json, read_jsonl
from p2m.spec import Example, TaskSpec
from p2m.stages.passages import input_text, questions_validator, subject_messages, subjects_validator, wants_passages
from p2m.student.extractive import predict_spans, training_features
from p2m.student.kinds import SPAN
from p2m.student.serve import StudentServer
from p2m.tasks.spans import has_passage_and_question, span_in_passage, split_input
from p2m.teacher.structured import InvalidAnswer

QA_TASK = "Answer a question about a passage with a short span copied from the passage."
PEOPLE = [
    ("Ada", "London", "1815", "mathematician"),
    ("Bruno", "Naples", "1548", "friar"),
    ("Clara", "Leipzig", "1819", "pianist"),
    ("Dmitri", "Tobolsk", "1834", "chemist"),
    ("Emmy", "Erlangen", "1882", "algebraist"),
    ("Frida", "Coyoacan", "1907", "painter"),
    ("Gregor", "Heinzendorf", "1822", "monk"),
    ("Hedy", "Vienna", "1914", "actress"),
    ("Ibn", "Basra", "965", "physicist"),
    ("Jagadish", "Mymensingh", "1858", "biologist"),
    ("Katherine", "Sulphur Springs", "1918", "mathematician"),
    ("Lise", "Vienna", "1878", "physicist"),
]


def qa_rows() -> list[dict]:
    """Hand-written passages, three questions each (birthplace, year, occupation): answers are spans."""
    rows = []
    for name, place, year, job in PEOPLE:
        passage = f"{name} was born in {place} in {year}. Later in life {name} worked as a {job} and became well known."
        for question, answer in (
            (f"Where was {name} born?", place),
            (f"In which year was {name} born?", year),
            (f"What did {name} work as?", job),
        ):
            rows.append({"input": f"Context: {passage}\nQuestion: {question}", "output": answer})
    return rows


def test_an_input_is_read_as_question_and_passage_in_either_order():
    assert split_input("Context: The sky is blue.\nQuestion: What colour is the sky?", "x") == (
        "What colour is the sky?",
        "The sky is blue.",
    )
    assert split_input("Question: What colour? Context: The sky is blue.", "x") == ("What colour?", "The sky is blue.")
    assert split_input("Dear team, ACME Corp will pay.", "Extract the company name") == (
        "Extract the company name",
        "Dear team, ACME Corp will pay.",
    )
    assert has_passage_and_question("Passage: a\nQuestion: b") and not has_passage_and_question(
        "Question: only a question?"
    )


def test_an_answer_is_kept_only_as_the_passages_own_span():
    passage = "The Nile flows north into the Mediterranean Sea."
    assert span_in_passage("the Mediterranean Sea", passage) == "the Mediterranean Sea"
    assert (
        span_in_passage("The Mediterranean Sea.", passage) == "the Mediterranean Sea"
    )  # the passage's casing, no full stop
    assert span_in_passage("the Atlantic", passage) is None
    spec = TaskSpec(instruction=QA_TASK, task_type="extraction")
    answers = ["north", "North.", "it flows north", "north"]
    row = {"input": f"Context: {passage}\nQuestion: Which way?", "writer_answer": "North"}
    assert spec.kind.learnable_answers(spec, row, answers) == [
        "north",
        "north",
        "north",
        "north",
    ]  # the question writer's span last


def test_question_writers_answers_are_kept_only_as_spans_and_inputs_follow_the_users_order():
    passage = "The bridge opened in 1932 and was designed by John Bradfield."
    pairs = questions_validator(passage)(
        {
            "questions": [
                {"question": "When did the bridge open?", "answer": "1932."},
                {"question": "Who designed the bridge?", "answer": "Bradfield, an engineer"},  # not a span
                {"question": "when did the bridge open?", "answer": "1932"},  # the same question again
                {"question": "Designer", "answer": "John Bradfield"},
            ]
        }
    )  # not a question
    assert pairs == [("When did the bridge open?", "1932")]
    with pytest.raises(InvalidAnswer):
        questions_validator(passage)({"questions": [{"question": "Who?", "answer": "Sydney"}]})
    question_first = TaskSpec(
        instruction=QA_TASK, task_type="extraction", examples=[Example("Question: Who? Context: Ann ran.", "Ann")]
    )
    assert (
        wants_passages(question_first)
        and input_text(question_first, passage, "Who?") == f"Question: Who?\nContext: {passage}"
    )
    assert not wants_passages(
        TaskSpec(
            instruction="Extract the company name", task_type="extraction", examples=[Example("ACME pays.", "ACME")]
        )
    )


def test_a_subject_list_that_repeats_the_prompts_words_is_asked_again():
    prompt = subject_messages(TaskSpec(instruction=QA_TASK, task_type="extraction"), "world religions")[-1][1]
    validate = subjects_validator(prompt)
    assert validate(
        {"subjects": ["Buddhism", "The Council of Nicaea", "buddhism", "person", "World religions", "Martin Luther"]}
    ) == [
        "buddhism",
        "The Council of Nicaea",
        "Martin Luther",
    ]  # one of each (the last spelling), the prompt's own words dropped
    with pytest.raises(InvalidAnswer):
        validate({"subjects": ["person", "place", "event", "organisation", "work", "idea", "Buddhism"]})


def test_reading_comprehension_candidates_are_passages_with_questions_whose_writer_answers_are_spans(tmp_path):
    examples = [
        {
            "input": "Context: The Nile flows north through Egypt into the Mediterranean Sea.\nQuestion: Where does the Nile flow into?",
            "output": "the Mediterranean Sea",
        }
    ]
    config = RunConfig(
        task=QA_TASK, examples=examples, num_examples=8, out=str(tmp_path / "run"), teacher="smollm2-135m"
    )
    Pipeline(config).run(until="synthesize")
    asked = read_json(config.run_dir() / "ledger.json")["this_invocation"]["by_stage"]["synthesize"]
    assert (
        asked["calls"] + asked["cache_hits"] >= 4
    )  # subjects of two fields, a passage per four questions, questions per passage
    for row in read_jsonl(
        config.run_dir() / "data/candidates.jsonl"
    ):  # SmolLM2 writes few valid question lists; each kept one is sound
        question, passage = split_input(row["input"], QA_TASK)
        assert question.endswith("?") and row["writer_answer"] in passage and len(passage.split()) >= 20


def test_training_positions_point_at_the_answer_tokens_also_in_a_later_window():
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(MINILM_ID))
    filler = "Nothing of note happened that day. " * 60  # pushes the answer past the first 384-token window
    rows = [
        {
            "input": f"Context: {filler}The treaty was signed in Utrecht.\nQuestion: Where was the treaty signed?",
            "output": "Utrecht",
        }
    ]
    features = training_features(tokenizer, rows, QA_TASK)
    assert len(features["input_ids"]) > 1  # overlapping windows
    found = [
        tokenizer.decode(ids[s : e + 1])
        for ids, s, e in zip(features["input_ids"], features["start_positions"], features["end_positions"])
        if s
    ]
    assert found and all(text.lower() == "utrecht" for text in found)
    assert features["start_positions"][0] == 0  # the first window does not hold it: [CLS]


def test_the_span_head_learns_to_copy_answers_from_passages(tmp_path):
    from datasets import Dataset
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    path = resolve_model(MINILM_ID)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForQuestionAnswering.from_pretrained(path)
    rows = qa_rows()
    random.Random(0).shuffle(rows)
    train, held_out = rows[:30], rows[30:]
    args = TrainingArguments(
        output_dir=str(tmp_path),
        num_train_epochs=30,
        per_device_train_batch_size=8,
        learning_rate=1e-4,
        report_to=[],
        save_strategy="no",
        seed=0,
        disable_tqdm=True,
        use_cpu=True,
    )
    Trainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict(training_features(tokenizer, train, QA_TASK)),
        data_collator=DataCollatorWithPadding(tokenizer),
    ).train()
    answers = predict_spans(model.eval(), tokenizer, [r["input"] for r in held_out], QA_TASK, "cpu")
    assert all(a and a in split_input(r["input"], QA_TASK)[1] for a, r in zip(answers, held_out))  # always a span
    assert sum(a == r["output"] for a, r in zip(answers, held_out)) >= len(held_out) // 2


def test_an_extraction_run_trains_an_encoder_span_student_and_evaluates_it(tmp_path):
    real = tmp_path / "qa.jsonl"
    real.write_text("".join(json.dumps(r) + "\n" for r in qa_rows()))
    config = RunConfig(
        task=QA_TASK,
        num_examples=0,
        datasets=[str(real)],
        out=str(tmp_path / "run"),
        teacher="smollm2-135m",
        student=MINILM_ID,
        epochs=8,
    )
    report = Pipeline(config).run()
    assert report["spec"]["task_type"] == "extraction"
    assert read_json(tmp_path / "run/train/metrics.json")["kind"] == "span"
    assert "exact_match" in report["student"]["metrics"]["all"] and "f1" in report["student"]["metrics"]["all"]
    student = Student(tmp_path / "run/model")
    assert student.kind is SPAN and student.num_params() < 30e6
    text = "Context: Marta was born in Porto in 1990.\nQuestion: Where was Marta born?"  # shorter than the top-k spans read
    answer = student.predict([text])[0]
    assert answer and answer in "Marta was born in Porto in 1990."

    exported = export_onnx(tmp_path / "run")  # kept only if ONNX Runtime answers as torch on every held-out input
    assert exported["same_output"] == exported["n"] > 0 and OnnxStudent(exported["path"]).predict([text]) == [answer]

    served = StudentServer(student, "p2m-qa", port=0).start()  # p2m serve's server, read by the real openai client
    try:
        client = openai.OpenAI(base_url=served.url, api_key="unused", max_retries=0)
        reply = client.chat.completions.create(model="p2m-qa", messages=[{"role": "user", "content": text}])
        assert reply.choices[0].message.content == answer
    finally:
        served.stop()

    Pipeline(replace(config, epochs=9)).run()  # a new student: the export of the one it replaces is gone
    assert (tmp_path / "run/model").is_dir() and not (tmp_path / "run/export").exists()


def test_a_causal_student_still_trains_for_extraction_when_given():
    from p2m.retrieval.students import resolve_student

    spec = TaskSpec(instruction=QA_TASK, task_type="extraction")
    assert resolve_student("HuggingFaceTB/SmolLM2-135M-Instruct", spec).arch == "causal"
    with pytest.raises(Exception, match="cannot be trained for classification"):
        resolve_student(
            "HuggingFaceTB/SmolLM2-135M-Instruct",
            TaskSpec(instruction="x", task_type="classification", labels=["a", "b"]),
        )
