"""Gated, private and missing base models (#17.3), through the container command itself.

The Hugging Face Hub is the one remote here: a local HTTP server stands in for it at its boundary
(HF_ENDPOINT), answering as the Hub does (the status and X-Error-Code huggingface_hub turns into
GatedRepoError / RepositoryNotFoundError). The token lives in Secrets Manager (the strict emulator)
and the job reads it by the secret's id: the token reaches the Hub and nothing else, no log line,
no failure reason, no request the dispatcher makes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlops_contracts.aws import aws_client
from mlops_contracts.hub_token import resolve_hub_token, token_in
from mlops_training.dispatch import sagemaker
from mlops_training.dispatch.messages import TrainingTask

pytestmark = pytest.mark.integration

TOKEN = "hf_s3cr3tT0kenValue0123456789"
GATED = "mistralai/Mistral-7B-v0.1"


class FakeHub(BaseHTTPRequestHandler):
    """The Hub's answers: a gated repo without the right token is 401 GatedRepo, an unknown one
    404 RepoNotFound; with the token, the model's info (its files then 404 EntryNotFound)."""

    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def _answer(self) -> None:
        auth = self.headers.get("Authorization")
        FakeHub.seen.append((self.path, auth))
        if self.path.startswith(f"/api/models/{GATED}"):
            if auth == f"Bearer {TOKEN}":
                self._send(
                    200, {"id": GATED, "sha": "a" * 40, "siblings": [], "private": False, "gated": "manual"}
                )
            else:
                self._send(401, {"error": "Access restricted"}, code="GatedRepo")
        elif self.path.startswith("/api/models/"):
            self._send(404, {"error": "Repository not found"}, code="RepoNotFound")
        else:
            self._send(404, {"error": "Entry not found"}, code="EntryNotFound")

    def _send(self, status: int, body: dict[str, Any], code: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if code:
            self.send_header("X-Error-Code", code)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[str]:
    FakeHub.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def run_container(
    root: Path, hub: str, tmp_path: Path, **extra: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SM_", "TASK_TOKEN", "MLFLOW_", "HF_", "HUGGING"))
    }
    env |= {"HF_ENDPOINT": hub, "HF_HOME": str(tmp_path / "hf-home"), **extra}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mlops_training", "train", "--root", str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, time.monotonic() - started


def test_a_model_the_hub_does_not_have_fails_at_once_saying_so(
    make_root: Any, hub: str, tmp_path: Path
) -> None:
    done, took = run_container(make_root(model_id="acme/no-such-model"), hub, tmp_path)
    print(f"the job failed after {took:.1f} s")
    assert done.returncode == 1, done.stdout + done.stderr
    failure = (tmp_path / "root" / "output" / "failure").read_text()
    assert failure.startswith("model_id acme/no-such-model: no such model on the Hugging Face Hub")
    assert "mlops/hf-token" in failure  # what to do if it is private
    assert took < 60  # within the first minute, before any download


def test_a_gated_model_without_a_token_fails_at_once_saying_so(
    make_root: Any, hub: str, tmp_path: Path
) -> None:
    done, took = run_container(make_root(model_id=GATED), hub, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    failure = (tmp_path / "root" / "output" / "failure").read_text()
    assert failure == (
        f"model_id {GATED}: a gated model on the Hugging Face Hub and no Hugging Face token was given: "
        "put a token with access in the Secrets Manager secret mlops/hf-token (locally: set HF_TOKEN)"
    )
    assert took < 60
    # the model's metadata, asked without a token; no file downloaded
    assert (f"/api/models/{GATED}", None) in FakeHub.seen
    assert not [path for path, _ in FakeHub.seen if "/resolve/" in path]


def test_the_token_is_read_from_its_secret_and_reaches_only_the_hub(
    emulator: Any, make_root: Any, hub: str, tmp_path: Path
) -> None:
    secrets = aws_client("secretsmanager")
    name = f"mlops/hf-token-{time.monotonic_ns()}"
    secrets.create_secret(Name=name, SecretString=json.dumps({"token": TOKEN}))
    done, _ = run_container(make_root(model_id=GATED), hub, tmp_path, HF_TOKEN_SECRET_ID=name)
    # the Hub let the job in with the token (its files are not served here, so the job ends there)
    assert (f"/api/models/{GATED}", f"Bearer {TOKEN}") in FakeHub.seen
    failure = (tmp_path / "root" / "output" / "failure").read_text()
    assert "gated" not in failure
    assert TOKEN not in done.stdout + done.stderr  # no log line
    assert TOKEN not in failure  # no FailureReason
    assert TOKEN not in (tmp_path / "root" / "input" / "config" / "hyperparameters.json").read_text()


def test_the_dispatcher_passes_the_secrets_id_never_the_token() -> None:
    """What CreateTrainingJob sends is what DescribeTrainingJob shows (Environment,
    HyperParameters): the id of the secret only."""
    settings = sagemaker.SageMakerSettings(
        TRAINING_IMAGE="123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-training:abc",
        SAGEMAKER_ROLE_ARN="arn:aws:iam::123456789012:role/mlops-sagemaker-role",
        HF_TOKEN_SECRET_ID="arn:aws:secretsmanager:eu-west-1:123456789012:secret:mlops/hf-token-AbCdEf",
    )
    task = TrainingTask(
        task_token="tok",
        run_id=7,
        model_name="mistral-7b-rag-qa",
        model_id=GATED,
        train_dataset_uri="s3://data/train/t.jsonl",
        hyperparameters={"epochs": 1},
        output_uri="s3://outputs/mistral-7b-rag-qa/run-7/",
    )
    request = sagemaker.create_job_request(task, settings)
    assert request["Environment"]["HF_TOKEN_SECRET_ID"] == settings.hf_token_secret_id
    assert "HF_TOKEN" not in request["Environment"]
    assert "HF_TOKEN" not in json.dumps(request["HyperParameters"]).upper()


def test_the_token_forms_and_the_local_variable() -> None:
    assert token_in(TOKEN) == TOKEN
    assert token_in(json.dumps({"token": TOKEN})) == TOKEN
    assert token_in(json.dumps({"hf_token": TOKEN})) == TOKEN
    assert token_in("  ") is None
    assert resolve_hub_token({"HF_TOKEN": TOKEN}) == TOKEN  # the local stack: HF_TOKEN when set
    assert resolve_hub_token({}) is None
