"""The sample datasets and their registration through the live API (a server process on a real
PostgreSQL and the AWS emulator): uploaded once, found again by name and sha256, their S3 object put
back after an emulator restart, a new version when a file changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlops_contracts.api_client import ApiClient
from mlops_contracts.aws import aws_client
from mlops_contracts.datasets import EvalRow, QaRow
from mlops_devstack.samples import SampleDataset, register_samples, sample_datasets, sample_texts
from mlops_testkit.api import BUCKET, REGION, Clients


@pytest.fixture
def operator(clients: Clients, clean: None) -> Iterator[ApiClient]:
    api = ApiClient(clients.base_url, clients.keys["operator"])
    yield api
    api.close()


def test_the_samples_are_a_few_dozen_valid_rows_of_each_kind() -> None:
    train, evaluation = sample_datasets()
    assert (train.kind, evaluation.kind) == ("train", "eval")
    train_rows = [QaRow.model_validate(row) for row in train.rows()]
    eval_rows = [EvalRow.model_validate(row) for row in evaluation.rows()]
    assert 24 <= len(train_rows) <= 100
    assert 24 <= len(eval_rows) <= 100
    assert len({r.question for r in train_rows}) == len(train_rows)  # no duplicated rows
    texts = sample_texts([train, evaluation])
    assert len(texts) >= 3 * len(train_rows)
    assert all(isinstance(t, str) and t for t in texts)


def test_samples_are_uploaded_once_and_their_objects_restored(operator: ApiClient, tmp_path) -> None:
    samples = sample_datasets()
    s3 = aws_client("s3", region=REGION)

    first = register_samples(operator, samples, s3=s3)
    assert {d.action for d in first.values()} == {"uploaded"}
    assert first["train"].name == "platform-qa-train"
    assert first["eval"].row_count == sum(1 for _ in samples[1].rows())

    second = register_samples(operator, samples, s3=s3)  # the second start of `make dev`
    assert {k: (d.id, d.action) for k, d in second.items()} == {k: (d.id, "found") for k, d in first.items()}
    assert len(operator.request("GET", "/datasets").json()["items"]) == 2

    # A restarted emulator is empty while the database still lists the datasets.
    key = first["train"].s3_uri.removeprefix(f"s3://{BUCKET}/")
    s3.delete_object(Bucket=BUCKET, Key=key)
    third = register_samples(operator, samples, s3=s3)
    assert (third["train"].id, third["train"].action) == (first["train"].id, "restored")
    assert third["eval"].action == "found"
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == samples[0].content
    assert len(operator.request("GET", "/datasets").json()["items"]) == 2

    # An edited sample is uploaded as a new version of the same name.
    edited = tmp_path / "platform-qa-train.jsonl"
    edited.write_bytes(b"".join(samples[0].content.splitlines(keepends=True)[:5]))
    [changed] = register_samples(operator, [SampleDataset("platform-qa-train", "train", edited)]).values()
    assert changed.action == "uploaded"
    assert changed.id not in {first["train"].id, first["eval"].id}
    assert changed.row_count == 5
