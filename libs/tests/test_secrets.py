"""The service API key from Secrets Manager (the Lambdas' API_KEY_SECRET_ID), against the emulator and
the live API."""

from __future__ import annotations

import json
import uuid

import pytest

from mlops_contracts.api_client import ApiClient
from mlops_contracts.aws import aws_client
from mlops_contracts.secrets import ApiKeyMissing, service_api_key
from mlops_devstack.emulator import Emulator
from mlops_evaluation.reporting import ResultsNotRecorded, api_key
from mlops_evaluation.settings import EvaluationSettings
from mlops_testkit.api import Clients


def make_secret(value: str) -> str:
    answer = aws_client("secretsmanager").create_secret(
        Name=f"mlops/service-api-key-{uuid.uuid4().hex[:8]}", SecretString=value
    )
    return str(answer["ARN"])


def test_the_key_is_read_plain_or_from_json(emulator: Emulator) -> None:
    plain = make_secret("mlops_plainkey\n")
    as_json = make_secret(json.dumps({"api_key": "mlops_jsonkey", "note": "rotated by hand"}))
    assert service_api_key({"API_KEY_SECRET_ID": plain}) == "mlops_plainkey"
    assert service_api_key({"API_KEY_SECRET_ID": as_json}) == "mlops_jsonkey"
    # API_KEY wins: local runs and tests never reach Secrets Manager.
    assert service_api_key({"API_KEY": "direct", "API_KEY_SECRET_ID": "does-not-exist"}) == "direct"
    with pytest.raises(ApiKeyMissing, match="API_KEY_SECRET_ID"):
        service_api_key({})


def test_the_evaluation_worker_shares_the_lookup(emulator: Emulator) -> None:
    secret = make_secret(json.dumps({"api_key": "mlops_evalkey"}))
    assert api_key(EvaluationSettings(API_KEY_SECRET_ID=secret)) == "mlops_evalkey"
    with pytest.raises(ResultsNotRecorded, match="API_KEY or API_KEY_SECRET_ID"):
        api_key(EvaluationSettings(API_KEY=None, API_KEY_SECRET_ID=None))


def test_workers_call_the_api_with_the_key_in_the_secret(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_URL", clients.base_url)
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.setenv("API_KEY_SECRET_ID", make_secret(clients.keys["service"]))
    client = ApiClient.from_env()
    try:
        assert client.request("GET", "/me").json()["role"] == "service"
    finally:
        client.close()


def test_from_env_names_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.delenv("API_KEY_SECRET_ID", raising=False)
    with pytest.raises(RuntimeError, match="neither API_KEY nor API_KEY_SECRET_ID is set"):
        ApiClient.from_env()
    monkeypatch.delenv("API_URL")
    with pytest.raises(RuntimeError, match="API_URL is not set"):
        ApiClient.from_env()


def test_a_worker_reads_its_own_key_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local runner runs every worker in one process: each finds its own key by its role's name."""
    env = {"API_KEY": "shared", "APPROVAL_WORKER_API_KEY": "mine"}
    assert service_api_key(env, worker="approval-worker") == "mine"
    assert service_api_key(env, worker="evaluator") == "shared"  # a Lambda's own environment
    assert service_api_key(env) == "shared"
    with pytest.raises(ApiKeyMissing, match="PROJECTOR_API_KEY or PROJECTOR_API_KEY_SECRET_ID"):
        service_api_key({}, worker="projector")
    monkeypatch.setenv("API_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.delenv("API_KEY_SECRET_ID", raising=False)
    monkeypatch.delenv("PROJECTOR_API_KEY", raising=False)
    monkeypatch.delenv("PROJECTOR_API_KEY_SECRET_ID", raising=False)
    with pytest.raises(
        RuntimeError, match="neither PROJECTOR_API_KEY nor PROJECTOR_API_KEY_SECRET_ID nor API_KEY"
    ):
        ApiClient.from_env("projector")
