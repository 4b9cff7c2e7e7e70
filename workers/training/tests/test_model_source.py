"""A base model given as an s3:// prefix: whatever its keys say, nothing is written outside the job."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from mlops_contracts.aws import aws_client
from mlops_devstack.emulator import Emulator
from mlops_training.entrypoint import main

MakeRoot = Callable[..., Path]


def test_a_model_prefix_with_a_traversal_key_fails_the_job_and_writes_nothing_outside(
    emulator: Emulator, make_root: MakeRoot, tmp_path: Path
) -> None:
    s3 = aws_client("s3")
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": emulator.region})
    root = make_root(model_id=f"s3://{bucket}/m")
    outside = tmp_path / "outside" / "x"
    # deep enough from <root>/work/base-model to reach / whatever the temporary directory is
    hostile = "m/" + "../" * (len(root.parts) + 2) + str(outside).lstrip("/")
    s3.put_object(Bucket=bucket, Key="m/config.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key=hostile, Body=b"pwned")

    assert main(["--root", str(root)]) == 1

    assert (root / "output" / "failure").read_text() == (
        f"model_id s3://{bucket}/m: refused, key {hostile!r} would write outside the destination"
    )
    assert not outside.exists()
    assert not (root / "work" / "base-model" / "config.json").exists()  # checked before any download
