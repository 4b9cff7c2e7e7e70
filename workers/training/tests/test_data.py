"""Reading and validating the train channel, rendering, and prompt-masked labels."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlops_training.data import IGNORE_INDEX, DatasetError, read_rows, tokenize


def write(channel: Path, lines: list[str], name: str = "train.jsonl") -> Path:
    channel.mkdir(parents=True, exist_ok=True)
    path = channel / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def trained_text(example: Any, tokenizer: Any) -> str:
    """The tokens the model is trained to produce (targets are shifted by one)."""
    ids = [int(t) for t in example.targets if t != IGNORE_INDEX]
    return str(tokenizer.decode(ids))


GOOD = json.dumps({"question": "Q?", "context": "C.", "answer": "A."})


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ('{"question": "Q?", "context": "C.", "answer": ', "not valid JSON: Expecting value at column 47"),
        ("", "empty line (JSONL needs one JSON object per line)"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"question": "Q?", "context": "C."}', "answer: Field required"),
        ('{"question": "Q?", "context": "C.", "answer": 3}', "answer: Input should be a valid string"),
        ('{"question": "Q?", "context": "C.", "answer": "A.", "x": 1}', "x: Extra inputs are not permitted"),
        (
            '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}',
            "a 'chat' row in a 'qa' dataset (formats must not mix)",
        ),
    ],
)
def test_a_bad_line_names_file_line_and_reason(tmp_path: Path, bad_line: str, reason: str) -> None:
    write(tmp_path / "train", [GOOD, GOOD, bad_line, GOOD])
    with pytest.raises(DatasetError) as caught:
        read_rows(tmp_path / "train")
    assert (caught.value.file, caught.value.line, caught.value.reason) == ("train.jsonl", 3, reason)
    assert str(caught.value) == f"invalid training data: train.jsonl, line 3: {reason}"


def test_chat_row_without_an_assistant_message_is_refused(tmp_path: Path) -> None:
    row = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}
    write(tmp_path / "train", [json.dumps(row)])
    with pytest.raises(DatasetError, match="line 1: no assistant message to learn from"):
        read_rows(tmp_path / "train")


def test_missing_channel_or_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"channel folder .* is missing"):
        read_rows(tmp_path / "train")
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetError, match=r"no \.jsonl file"):
        read_rows(tmp_path / "train")


def test_dataset_sha256_is_the_file_digest(tmp_path: Path, qa_rows: list[dict[str, str]]) -> None:
    path = write(tmp_path / "train", [json.dumps(r) for r in qa_rows])
    data = read_rows(tmp_path / "train")
    assert data.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(data.rows) == len(qa_rows)
    write(tmp_path / "train", [GOOD], name="more.jsonl")
    assert read_rows(tmp_path / "train").sha256 != data.sha256  # several files: a digest of the listing


def test_qa_labels_cover_the_answer_and_eos_only(tmp_path: Path, tokenizer: Any) -> None:
    row = {
        "question": "What is the capital of France?",
        "context": "Paris is the capital.",
        "answer": "Paris.",
    }
    write(tmp_path / "train", [json.dumps(row)])
    (example,) = tokenize(read_rows(tmp_path / "train"), tokenizer, 256).examples
    assert example.input_ids[0] == tokenizer.bos_token_id
    assert example.input_ids[-1] == tokenizer.eos_token_id
    assert trained_text(example, tokenizer) == "Paris.</s>"
    # pre-shifted: each target is the next input token, and the last position has none
    trained = example.targets != IGNORE_INDEX
    assert np.array_equal(example.targets[:-1][trained[:-1]], example.input_ids[1:][trained[:-1]])
    assert example.targets[-1] == IGNORE_INDEX
    prompt = tokenizer.decode(example.input_ids[: int(np.argmax(trained)) + 1])
    assert prompt.endswith("### Answer:\n")
    assert "What is the capital of France?" in prompt


def test_chat_labels_cover_every_assistant_turn(tmp_path: Path, tokenizer: Any, chat_rows: list[Any]) -> None:
    write(tmp_path / "train", [json.dumps(chat_rows[0])])
    (example,) = tokenize(read_rows(tmp_path / "train"), tokenizer, 256).examples
    assert trained_text(example, tokenizer) == "Paris.</s>Yes, Paris.</s>"
    text = tokenizer.decode(example.input_ids)
    assert text.startswith("<s>[SYSTEM] Answer briefly. [/SYSTEM][USER] Capital of France? [/USER]Paris.</s>")


def test_chat_template_errors_name_the_line(tmp_path: Path, tokenizer: Any, chat_rows: list[Any]) -> None:
    strict = type(tokenizer).from_pretrained(tokenizer.name_or_path)
    strict.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}"
        "{% endif %}{{ m['content'] }}{% endfor %}"
    )
    write(tmp_path / "train", [json.dumps(chat_rows[0])])
    with pytest.raises(
        DatasetError, match=r"train.jsonl, line 1: the chat template rejected .*no system role"
    ):
        tokenize(read_rows(tmp_path / "train"), strict, 256)


def test_long_examples_are_cut_and_answerless_ones_skipped(tmp_path: Path, tokenizer: Any) -> None:
    long_context = " ".join(["Paris is the capital of France."] * 40)
    rows = [
        {"question": "Q?", "context": "Short.", "answer": "Paris."},
        {"question": "Q?", "context": long_context, "answer": "Paris."},
    ]
    write(tmp_path / "train", [json.dumps(r) for r in rows])
    data = tokenize(read_rows(tmp_path / "train"), tokenizer, 64)
    assert (data.truncated, data.skipped, len(data.examples)) == (1, 1, 1)
    assert data.skipped_sources == [("train.jsonl", 2)]
    with pytest.raises(DatasetError, match="no example keeps an answer token within max_seq_length=8"):
        tokenize(read_rows(tmp_path / "train"), tokenizer, 8)
