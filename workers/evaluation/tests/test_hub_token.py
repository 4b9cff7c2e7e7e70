"""The evaluation worker loads a Hub base model with the token of mlops/hf-token, read by the
secret's id from Secrets Manager (the strict emulator) when it fetches the candidate (#17.3)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from mlops_contracts.aws import aws_client
from mlops_evaluation.candidate import CandidateError, fetch_base_model

TOKEN = "hf_evalT0kenValue0123456789"


def test_a_hub_base_model_gets_the_token_of_its_secret(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"mlops/hf-token-eval-{time.monotonic_ns()}"
    aws_client("secretsmanager").create_secret(Name=name, SecretString=json.dumps({"token": TOKEN}))
    monkeypatch.setenv("HF_TOKEN", "")  # restored (to absent) after the test
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_TOKEN_SECRET_ID", name)
    assert fetch_base_model("mistralai/Mistral-7B-v0.1", tmp_path) == "mistralai/Mistral-7B-v0.1"
    import os

    assert os.environ["HF_TOKEN"] == TOKEN  # where huggingface_hub reads it, in this process only


def test_a_secret_that_cannot_be_read_is_a_clear_candidate_error(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN_SECRET_ID", "mlops/no-such-secret")
    with pytest.raises(
        CandidateError,
        match=r"the Hugging Face token secret mlops/no-such-secret cannot be read \(ResourceNotFoundException\)",
    ):
        fetch_base_model("mistralai/Mistral-7B-v0.1", tmp_path)
