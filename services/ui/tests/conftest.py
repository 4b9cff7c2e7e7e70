"""Fixtures of the dashboard tests: the real API (api_fixtures: a server process on a real PostgreSQL
and the AWS emulator), an AppTest of the dashboard pointed at it, and helpers that bring a run to
the states the pages show (through the API, as the workers would)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest

import mlops_ui
from mlops_contracts.aws import aws_client
from mlops_contracts.prompts import DEFAULT_PROMPT_TEMPLATE
from mlops_devstack.emulator import free_port
from mlops_devstack.processes import ChildProcess, http_answers
from mlops_testkit.api import OUTPUTS_BUCKET, ApiServer, AwsFixture, Clients, run_body

APP = Path(mlops_ui.__file__).with_name("app.py")
# The API reads its approval-link signing key from Secrets Manager; the API tests use this same value
# (test_approvals.py), so whichever suite runs first, the shared API server signs alike.
SIGNING_SECRET = "mlops/approval-signing-key"
SIGNING_KEY = "test-approval-signing-key-" + "k" * 32
SCORES = {"faithfulness": 0.91, "answer_relevancy": 0.84, "context_precision": 0.78, "context_recall": 0.74}


def execution_of(run_id: int) -> str:
    """The workflow execution the tests' runs belong to (statuses and approvals name it)."""
    return f"arn:aws:states:eu-west-1:123456789012:execution:release:run-{run_id}"


WEIGHTS = {"faithfulness": 0.30, "answer_relevancy": 0.20, "context_precision": 0.25, "context_recall": 0.25}


@pytest.fixture(scope="session")
def signing_key(aws: AwsFixture) -> str:
    secrets = aws_client("secretsmanager")
    with contextlib.suppress(secrets.exceptions.ResourceExistsException):
        secrets.create_secret(Name=SIGNING_SECRET, SecretString=SIGNING_KEY)
    return SIGNING_KEY


@pytest.fixture
def ui_env(api_server: ApiServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("API_URL", api_server.base_url)
    monkeypatch.setenv("UI_REFRESH_SECONDS", "2")
    monkeypatch.setenv("UI_API_KEY_SIGN_IN", "true")  # as `make dev` sets it: these tests sign in with keys
    return api_server.base_url


@pytest.fixture
def app(ui_env: str, clients: Clients) -> Callable[..., AppTest]:
    """`app("operator")`: the dashboard, signed in with that role's key, run once."""

    def make(role: str | None = None, page: str | None = None, **query: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=30)
        if role is not None:
            me = httpx.get(f"{ui_env}/me", headers={"X-API-Key": clients.keys[role]}).json()
            at.session_state["api_key"] = clients.keys[role]
            at.session_state["principal"] = me
        at.run()
        if page is not None:
            at.query_params.update(query)
            at.switch_page(page).run()
        return at

    return make


class Kit:
    """Helpers of the dashboard tests (a fixture: conftest modules are not importable)."""

    @staticmethod
    def texts(at: AppTest) -> str:
        """Everything a person reads on the page, for assertions."""
        parts: list[str] = []
        for kind in (
            "title",
            "header",
            "subheader",
            "markdown",
            "caption",
            "error",
            "warning",
            "info",
            "success",
        ):
            parts.extend(str(element.value) for element in at.get(kind))
        parts.extend(f"{m.label}: {m.value}" for m in at.metric)
        return "\n".join(parts)

    @staticmethod
    def no_exception(at: AppTest) -> None:
        assert not at.exception, [e.value for e in at.exception]

    @staticmethod
    def new_run(clients: Clients, datasets: dict[str, int], **overrides: Any) -> int:
        with clients.as_("operator") as op:
            response = op.post("/runs", json=run_body(datasets, **overrides))
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    @staticmethod
    def move(clients: Clients, run_id: int, *statuses: str) -> None:
        """What the projector applies: each status with the workflow's event (its id and execution)."""
        with clients.as_("projector") as projector:
            for status in statuses:
                event = {
                    "status": status,
                    "event_id": str(uuid.uuid4()),
                    "execution_arn": execution_of(run_id),
                }
                response = projector.patch(f"/runs/{run_id}/status", json=event)
                assert response.status_code == 200, response.text

    @staticmethod
    def record_results(clients: Clients, run_id: int, *, ml_score: float = 0.8235, samples: int = 6) -> None:
        """A training result with its step history and an evaluation result with per-sample rows in S3,
        in the shapes the training and evaluation workers write."""
        history = [
            {"step": s, "train_loss": round(2.4 * 0.93**s + 0.3, 4), "tokens_per_second": 5200 + 40 * (s % 5)}
            for s in range(1, 31)
        ]
        rows = []
        for i in range(samples):
            scores: dict[str, float | None] = {
                k: round(max(0.0, v - 0.09 * (i % 4)), 3) for k, v in SCORES.items()
            }
            if i == samples - 1:
                scores = dict.fromkeys(SCORES)
            rows.append(
                {
                    "index": i,
                    "question": f"What does LoRA change in layer {i}?",
                    "contexts": ["LoRA adds low-rank adapters to frozen weights."],
                    "ground_truth": "Only small adapter matrices are trained.",
                    "answer": f"It trains small adapters ({i}).",
                    **scores,
                    "scored": i != samples - 1,
                    "error": "judge timed out" if i == samples - 1 else None,
                    "seconds": 1.2,
                }
            )
        with clients.as_("viewer") as viewer:
            model = viewer.get(f"/runs/{run_id}").json()["model_name"]
        key = f"{model}/evaluations/run-{run_id}/{uuid.uuid4().hex[:6]}/samples.jsonl"  # the run's prefix
        aws_client("s3").put_object(
            Bucket=OUTPUTS_BUCKET, Key=key, Body="".join(json.dumps(r) + "\n" for r in rows).encode()
        )
        training = {
            "metrics": {
                "train_loss": history[-1]["train_loss"],
                "train_runtime_seconds": 312.5,
                "train_tokens_per_second": 5230.0,
                "train_steps": 30.0,
                "cost_usd": 0.42,
                "history": history,
            }
        }
        evaluation = {
            "metrics": {
                "scores": SCORES,
                "ml_score": ml_score,
                "weights": WEIGHTS,
                "samples": samples,
                "scored_samples": samples - 1,
                "coverage": (samples - 1) / samples,
                "judge": {"kind": "local", "model": "local-judge"},
                "cost_usd": 0.0132,
                "samples_uri": f"s3://{OUTPUTS_BUCKET}/{key}",
            },
            "ml_score": ml_score,
            "passed": True,
        }
        with clients.as_("evaluator") as svc:
            assert svc.put(f"/runs/{run_id}/results/training", json=training).status_code == 200
            assert svc.put(f"/runs/{run_id}/results/evaluation", json=evaluation).status_code == 200

    @staticmethod
    def register_approval(
        clients: Clients, run_id: int, token: str, package_arn: str, ml_score: float = 0.8235
    ) -> dict[str, Any]:
        body = {
            "task_token": token,
            "execution_arn": execution_of(run_id),
            "model_package_arn": package_arn,
            "ml_score": ml_score,
            "scores": SCORES,
            "ml_score_threshold": 0.7,
            "timeout_seconds": 3600,
        }
        with clients.as_("approval-worker") as worker:
            response = worker.post(f"/runs/{run_id}/approvals", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    @staticmethod
    def registry_group(name: str, packages: list[tuple[str, dict[str, str]]]) -> list[str]:
        """A package group with packages (approval status, metadata properties), as the release
        workflow leaves them."""
        sagemaker = aws_client("sagemaker")
        with contextlib.suppress(sagemaker.exceptions.ClientError):  # there already: the emulator lives on
            sagemaker.create_model_package_group(
                ModelPackageGroupName=name, ModelPackageGroupDescription="Fine-tuned for RAG QA"
            )
        arns = []
        for status, metadata in packages:
            arn = sagemaker.create_model_package(
                ModelPackageGroupName=name,
                ModelApprovalStatus="PendingManualApproval",
                **({"CustomerMetadataProperties": metadata} if metadata else {}),
            )["ModelPackageArn"]
            if status != "PendingManualApproval":
                sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)
            arns.append(arn)
        return arns


@pytest.fixture
def kit() -> type[Kit]:
    return Kit


# The serving container's entrypoint on the tiny model, for the Deployments page's "try it": the
# test records the deployment through the API's deployer routes and points it at this process.
SERVED_FACTS = [
    ("Where are runs stored?", "Runs are stored in PostgreSQL."),
    ("Who approves a release?", "A person approves it from a Teams card."),
]


@pytest.fixture(scope="session")
def served_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m mlops_serving serve` on a free port, serving a tiny model's merged weights (the
    layout SageMaker extracts into /opt/ml/model); yields its URL once /ping answers."""
    from mlops_devstack.tiny_model import build_tiny_model

    model_dir = tmp_path_factory.mktemp("opt-ml-model")
    corpus = [DEFAULT_PROMPT_TEMPLATE.format(context=c, question=q) + " " + c for q, c in SERVED_FACTS]
    build_tiny_model(model_dir / "merged", corpus * 8)
    metadata = {
        "run_id": "run-served",
        "prompt": {"format": "qa", "template": DEFAULT_PROMPT_TEMPLATE, "bos": True},
    }
    (model_dir / "metadata.json").write_text(json.dumps(metadata))
    port = free_port()
    env = {
        **os.environ,
        "SERVING_MODEL_DIR": str(model_dir),
        "SERVING_HOST": "127.0.0.1",
        "SERVING_PORT": str(port),
        "SERVING_DEVICE": "cpu",
        "SERVING_MAX_NEW_TOKENS_LIMIT": "64",
    }
    server = ChildProcess.start(
        "serving",
        [sys.executable, "-m", "mlops_serving", "serve"],
        env=env,
        log=model_dir.parent / "serving.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_until(
            lambda: http_answers(f"{url}/ping", ok_only=True, timeout=1), timeout=90, what="/ping"
        )
        yield url
    finally:
        server.stop(timeout=10)
