"""POST/GET /datasets: every line validated, clear errors, nothing half-written."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from typing import Any

import httpx
import psycopg
import pytest

from mlops_contracts.aws import aws_client
from mlops_testkit.api import EVAL_ROW, QA_ROW, AwsFixture, Clients, jsonl, upload

CHAT_ROW = {
    "messages": [
        {"role": "system", "content": "Answer from the context."},
        {"role": "user", "content": "What is LoRA?"},
        {"role": "assistant", "content": "Low-rank adapters."},
    ]
}


def stored(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT count(*) FROM datasets").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("kind", "rows", "fmt"),
    [("train", [QA_ROW] * 3, "qa"), ("train", [CHAT_ROW] * 2, "chat"), ("eval", [EVAL_ROW] * 4, "ragas")],
)
def test_upload_stores_file_with_hash(
    clients: Clients, clean: None, aws: AwsFixture, kind: str, rows: list[Any], fmt: str
) -> None:
    content = jsonl(*rows)
    with clients.as_("operator") as op:
        response = upload(op, f"{fmt}-set", kind, content)
        assert response.status_code == 201, response.text
        dataset = response.json()
        assert op.get(f"/datasets/{dataset['id']}").json() == dataset
        listed = op.get("/datasets", params={"kind": kind}).json()["items"]
    assert dataset["format"] == fmt
    assert dataset["row_count"] == len(rows)
    assert dataset["size_bytes"] == len(content)
    assert dataset["sha256"] == hashlib.sha256(content).hexdigest()
    assert [d["id"] for d in listed] == [dataset["id"]]
    bucket, key = dataset["s3_uri"].removeprefix("s3://").split("/", 1)
    body = aws_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == content


def assert_nothing_stored(db: psycopg.Connection[Any], aws: AwsFixture, keys_before: list[str]) -> None:
    assert stored(db) == 0
    assert aws.bucket_keys() == keys_before


def test_invalid_lines_are_reported_with_numbers(
    clients: Clients, clean: None, db: psycopg.Connection[Any], aws: AwsFixture
) -> None:
    keys = aws.bucket_keys()
    content = b"\n".join(
        [
            json.dumps(QA_ROW).encode(),
            b'{"question": "q", "context": "c"}',  # missing answer
            b"not json at all",
            b"[1, 2, 3]",
            json.dumps({**QA_ROW, "answer": 42}).encode(),
            json.dumps({**QA_ROW, "extra": "x"}).encode(),
            json.dumps(CHAT_ROW).encode(),  # chat row in a QA file
            b"",
        ]
    )
    with clients.as_("operator") as op:
        response = upload(op, "broken", "train", content)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "6 invalid line(s)" in detail["message"]
    errors = {e["line"]: e["error"] for e in detail["errors"]}
    assert set(errors) == {2, 3, 4, 5, 6, 7}
    assert "answer" in errors[2]
    assert "Field required" in errors[2]
    assert "not valid JSON" in errors[3]
    assert "expected a JSON object" in errors[4]
    assert "answer" in errors[5]
    assert "extra" in errors[6]
    assert "formats must not mix" in errors[7]
    assert_nothing_stored(db, aws, keys)


@pytest.mark.parametrize(
    ("kind", "content", "needle"),
    [
        ("train", b"", "no rows"),
        ("train", b"\x89PNG\r\n\x1a\n\x00\x00binary", "not UTF-8"),
        ("eval", jsonl(QA_ROW), "contexts"),
        ("eval", jsonl({**EVAL_ROW, "contexts": []}), "contexts"),
        ("train", jsonl({"messages": [{"role": "user", "content": "hi"}]}), "messages"),
    ],
    ids=["empty", "binary", "qa-as-eval", "no-contexts", "one-message-chat"],
)
def test_unusable_files_are_refused(
    clients: Clients,
    clean: None,
    db: psycopg.Connection[Any],
    aws: AwsFixture,
    kind: str,
    content: bytes,
    needle: str,
) -> None:
    keys = aws.bucket_keys()
    with clients.as_("operator") as op:
        response = upload(op, "bad", kind, content)
    assert response.status_code == 422, response.text
    assert needle in response.text
    assert_nothing_stored(db, aws, keys)


def test_a_50mb_line_is_refused_clearly(
    clients: Clients, clean: None, db: psycopg.Connection[Any], aws: AwsFixture
) -> None:
    keys = aws.bucket_keys()
    huge = json.dumps({**QA_ROW, "context": "x" * (50 * 1024 * 1024)}).encode()
    content = jsonl(QA_ROW) + huge + b"\n" + jsonl(QA_ROW)
    with clients.as_("operator") as op:
        response = upload(op, "huge", "train", content)
    assert response.status_code == 422
    errors = response.json()["detail"]["errors"]
    assert errors == [{"line": 2, "error": "line is longer than the 1048576-byte limit"}]
    assert_nothing_stored(db, aws, keys)


def test_a_row_nested_100000_levels_deep_is_a_422_naming_its_line(
    clients: Clients, clean: None, db: psycopg.Connection[Any], aws: AwsFixture
) -> None:
    """Was a 500: the JSON decoder's RecursionError escaped the validation."""
    keys = aws.bucket_keys()
    deep = b'{"question": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    content = jsonl(QA_ROW) + deep + b"\n" + jsonl(QA_ROW)
    with clients.as_("operator") as op:
        response = upload(op, "deep", "train", content)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]["errors"]
    assert errors == [{"line": 2, "error": "not valid JSON: nested too deeply"}]
    assert_nothing_stored(db, aws, keys)


def test_form_errors_are_422(clients: Clients, clean: None) -> None:
    with clients.as_("operator") as op:
        no_file = op.post("/datasets", data={"name": "x", "kind": "train"})
        bad_kind = upload(op, "x", "test", jsonl(QA_ROW))
        bad_name = upload(op, "", "train", jsonl(QA_ROW))
        json_body = op.post("/datasets", json={"name": "x"})
    assert no_file.status_code == 422
    assert "file" in no_file.text
    assert bad_kind.status_code == 422
    assert "kind" in bad_kind.text
    assert bad_name.status_code == 422
    assert "name" in bad_name.text
    assert json_body.status_code == 422


def test_unknown_dataset_is_404(clients: Clients, clean: None) -> None:
    with clients.as_("viewer") as viewer:
        response = viewer.get("/datasets/987654")
    assert response.status_code == 404
    assert response.json() == {"detail": "dataset 987654 not found"}


def test_a_failed_insert_removes_the_uploaded_object(
    clients: Clients, clean: None, db: psycopg.Connection[Any], aws: AwsFixture
) -> None:
    """The object is stored before the row; when the row cannot be written, the object goes."""
    keys = aws.bucket_keys()
    db.execute(
        """
        CREATE OR REPLACE FUNCTION refuse_dataset() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'simulated database failure'; END $$ LANGUAGE plpgsql;
        CREATE TRIGGER refuse_dataset BEFORE INSERT ON datasets
        FOR EACH ROW WHEN (NEW.name = 'doomed') EXECUTE FUNCTION refuse_dataset();
        """
    )
    try:
        with clients.as_("operator") as op:
            response = upload(op, "doomed", "train", jsonl(QA_ROW))
    finally:
        db.execute("DROP TRIGGER refuse_dataset ON datasets; DROP FUNCTION refuse_dataset();")
    assert response.status_code == 500
    assert_nothing_stored(db, aws, keys)


def test_uploading_needs_operator(clients: Clients, clean: None) -> None:
    with clients.as_("viewer") as viewer:
        response = upload(viewer, "x", "train", jsonl(QA_ROW))
    assert response.status_code == 403
    with httpx.Client(base_url=clients.base_url) as anonymous:
        assert upload(anonymous, "x", "train", jsonl(QA_ROW)).status_code == 401


def test_a_name_with_non_ascii_letters_is_stored(clients: Clients, clean: None, aws: AwsFixture) -> None:
    # The name passed the API's pattern (\w takes any letter), then botocore refused it as S3 object
    # metadata (US-ASCII only) and the upload answered 500.
    name = "données-évaluation Ørsted"
    with clients.as_("operator") as op:
        response = upload(op, name, "eval", jsonl(EVAL_ROW))
        assert response.status_code == 201, response.text
        dataset = response.json()
        assert op.get(f"/datasets/{dataset['id']}").json()["name"] == name
    bucket, key = dataset["s3_uri"].removeprefix("s3://").split("/", 1)
    metadata = aws_client("s3").head_object(Bucket=bucket, Key=key)["Metadata"]
    assert metadata["dataset-name"] == "donn%C3%A9es-%C3%A9valuation %C3%98rsted"
    assert urllib.parse.unquote(metadata["dataset-name"]) == name
    assert metadata["sha256"] == dataset["sha256"]
