"""The evaluation checks its judge models with Bedrock before anything else (#18.6): a model that
Bedrock does not offer in the judge's Region failed every sample's judge call after minutes of
inference; now the run fails at once, naming the model, the Region and Bedrock's own answer.
Bedrock cannot run here: botocore's Stubber answers GetFoundationModel with its real shapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mlops_evaluation.judges import availability
from mlops_evaluation.messages import EvaluationTask
from mlops_evaluation.mlscore import EvaluationError
from mlops_evaluation.settings import EvaluationSettings
from mlops_evaluation.worker import evaluate

JUDGE = "mistral.mistral-small-2402-v1:0"
EMBEDDING = "amazon.titan-embed-text-v2:0"
REGION = "eu-west-1"
# Bedrock's answer for a model identifier the Region does not offer
INVALID = "The provided model identifier is invalid."


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    client = boto3.client("bedrock", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(availability, "aws_client", lambda service, region: client)
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def settings() -> EvaluationSettings:
    return EvaluationSettings.model_validate(
        {
            "JUDGE": "bedrock",
            "BEDROCK_REGION": REGION,
            "JUDGE_MODEL_ID": JUDGE,
            "JUDGE_EMBEDDING_MODEL_ID": EMBEDDING,
        }
    )


def task() -> EvaluationTask:
    # a dataset that does not exist: an error about it would mean the check did not come first
    return EvaluationTask(
        task_token="token",
        run_id=3,
        model_name="rag-qa",
        model_id="mistralai/Mistral-7B-v0.1",
        task_type="eval_only",
        eval_dataset_uri="s3://no-such-bucket/eval.jsonl",
    )


def offered(model_id: str) -> dict[str, Any]:
    return {
        "modelDetails": {
            "modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/{model_id}",
            "modelId": model_id,
            "modelLifecycle": {"status": "ACTIVE"},
        }
    }


def test_a_judge_model_bedrock_does_not_offer_fails_the_evaluation_before_inference(bedrock: Stubber) -> None:
    bedrock.add_client_error(
        "get_foundation_model",
        service_error_code="ValidationException",
        service_message=INVALID,
        http_status_code=400,
        expected_params={"modelIdentifier": JUDGE},
    )
    outcome = evaluate(task(), settings())
    assert outcome.error is not None
    assert outcome.error.code == "Evaluation.JudgeUnavailable"
    assert outcome.error.reason.startswith(
        f"Bedrock in {REGION} does not offer the judge model {JUDGE} to this account "
        f"(ValidationException: GetFoundationModel: {INVALID})"
    )
    assert outcome.verdict is None
    assert outcome.results == []  # nothing was generated or scored


def test_the_embedding_model_is_checked_too(bedrock: Stubber) -> None:
    bedrock.add_response("get_foundation_model", offered(JUDGE), {"modelIdentifier": JUDGE})
    bedrock.add_client_error(
        "get_foundation_model",
        service_error_code="AccessDeniedException",
        service_message="You don't have access to the model with the specified model ID.",
        http_status_code=403,
        expected_params={"modelIdentifier": EMBEDDING},
    )
    with pytest.raises(EvaluationError, match=f"the embedding model {EMBEDDING}"):
        availability.require_judge_models(settings())


def test_models_on_offer_or_a_check_that_cannot_be_made_let_the_evaluation_go_on(bedrock: Stubber) -> None:
    bedrock.add_response("get_foundation_model", offered(JUDGE), {"modelIdentifier": JUDGE})
    bedrock.add_response("get_foundation_model", offered(EMBEDDING), {"modelIdentifier": EMBEDDING})
    availability.require_judge_models(settings())
    bedrock.add_client_error(
        "get_foundation_model", service_error_code="ThrottlingException", http_status_code=429
    )
    bedrock.add_response("get_foundation_model", offered(EMBEDDING), {"modelIdentifier": EMBEDDING})
    availability.require_judge_models(settings())  # logged; the judge's own calls will tell
