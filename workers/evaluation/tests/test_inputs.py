"""The evaluation file and the SQS message: bad input is refused with a clear reason."""

from __future__ import annotations

import json

import pytest

from mlops_evaluation.dataset import InvalidDataset, load_eval_dataset, parse_eval_jsonl
from mlops_evaluation.messages import InvalidMessage, parse_task
from mlops_evaluation.mlscore import EvaluationError

GOOD = {"question": "Q?", "contexts": ["C."], "ground_truth": "G."}


def test_valid_file_parses_and_skips_blank_lines() -> None:
    content = (json.dumps(GOOD) + "\n\n" + json.dumps({**GOOD, "question": "Q2?"}) + "\n").encode()
    rows = parse_eval_jsonl(content)
    assert [r.question for r in rows] == ["Q?", "Q2?"]


def test_malformed_file_names_every_line_and_field() -> None:
    lines = [
        json.dumps(GOOD),
        json.dumps({"question": "Q?", "contexts": ["C."]}),
        json.dumps({**GOOD, "contexts": []}),
        '{"question": "Q?", "contexts": ["C."] "ground_truth": "G."}',
        json.dumps({**GOOD, "contexts": ["ok", 3]}),
        json.dumps(["not", "an", "object"]),
        json.dumps({**GOOD, "answer": "extra"}),
    ]
    with pytest.raises(InvalidDataset) as caught:
        parse_eval_jsonl("\n".join(lines).encode(), "s3://bucket/eval.jsonl")
    error = caught.value
    assert error.code == "Evaluation.InvalidDataset"
    assert error.problems == [
        "line 2: field 'ground_truth': Field required",
        "line 3: field 'contexts': List should have at least 1 item after validation, not 0",
        "line 4: not valid JSON (Expecting ',' delimiter at column 39)",
        "line 5: field 'contexts.1': Input should be a valid string",
        "line 6: expected a JSON object, got list",
        "line 7: field 'answer': Extra inputs are not permitted",
    ]
    assert error.reason.startswith(
        "invalid evaluation dataset s3://bucket/eval.jsonl: line 2: field 'ground_truth'"
    )


def test_not_utf8_and_empty_files() -> None:
    with pytest.raises(InvalidDataset, match=r"line 1: not UTF-8"):
        parse_eval_jsonl(b"\xff\xfe{}\n")
    with pytest.raises(InvalidDataset, match="the file has no rows"):
        parse_eval_jsonl(b"\n \n")


def test_unreadable_dataset_is_an_evaluation_error() -> None:
    with pytest.raises(
        EvaluationError, match=r"cannot read the evaluation dataset /nonexistent/eval\.jsonl"
    ) as caught:
        load_eval_dataset("/nonexistent/eval.jsonl")
    assert caught.value.code == "Evaluation.DatasetUnavailable"


TASK = {
    "task_token": "token-1",
    "run_id": 3,
    "model_name": "mistral-7b-rag-qa",
    "model_id": "mistralai/Mistral-7B-v0.1",
    "task_type": "finetune",
    "artifact_uri": "s3://outputs/mistral-7b-rag-qa/output/model.tar.gz",
    "eval_dataset_uri": "s3://datasets/eval/ragas_eval.jsonl",
    "ml_score_threshold": 0.7,
    "execution_arn": "arn:aws:states:eu-west-1:123456789012:execution:release:run-3",
}


def test_task_message_parses() -> None:
    task = parse_task(json.dumps(TASK))
    assert task.run_id == 3
    assert task.ml_score_threshold == 0.7
    eval_only = parse_task(
        {**TASK, "task_type": "eval_only", "artifact_uri": None, "ml_score_threshold": None}
    )
    assert eval_only.artifact_uri is None
    assert eval_only.ml_score_threshold is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"artifact_uri": None}, "a finetune evaluation needs artifact_uri"),
        ({"ml_score_threshold": 1.5}, "ml_score_threshold: Input should be less than or equal to 1"),
        ({"eval_dataset_uri": "eval.jsonl"}, "eval_dataset_uri: String should match pattern"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
        ({"run_id": "three"}, "run_id: Input should be a valid integer"),
    ],
)
def test_invalid_task_keeps_its_token_for_the_answer(change: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_task(json.dumps({**TASK, **change}))
    assert reason in caught.value.reason
    assert caught.value.task_token == "token-1"


def test_message_without_token_cannot_be_answered() -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_task("{not json")
    assert caught.value.task_token is None
    with pytest.raises(InvalidMessage) as caught:
        parse_task(json.dumps({k: v for k, v in TASK.items() if k != "task_token"}))
    assert caught.value.task_token is None
    assert "task_token: Field required" in caught.value.reason
