"""The judge's models checked with Bedrock when an evaluation starts, before minutes of candidate
inference: a judge or embedding model that Bedrock does not offer in the judge's Region (or that
the account cannot use) fails the run at once, naming the model, the Region and Bedrock's answer,
instead of every sample's judge call failing after the answers were generated. `make plan` checks
the same pairs against terraform/bedrock_models.json; this is the check Bedrock itself answers."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlops_contracts.aws import aws_client, aws_error
from mlops_evaluation.mlscore import EvaluationError
from mlops_evaluation.settings import EvaluationSettings

log = logging.getLogger(__name__)

# GetFoundationModel's answers for a model this account cannot call in this Region: an identifier
# the Region does not know (ValidationException "The provided model identifier is invalid.",
# ResourceNotFoundException) or a model it may not use (AccessDeniedException).
UNAVAILABLE = frozenset({"ValidationException", "ResourceNotFoundException", "AccessDeniedException"})


def require_judge_models(settings: EvaluationSettings, control_client: Any = None) -> None:
    """Raise EvaluationError("Evaluation.JudgeUnavailable") when Bedrock says a judge model is not
    available. Other errors (throttling, no network) do not stop the evaluation: they are logged and
    the judge's own calls will tell."""
    region = settings.judge_region
    client = control_client or aws_client("bedrock", region=region)
    for role, model_id in (
        ("judge", settings.judge_model_id),
        ("embedding", settings.judge_embedding_model_id),
    ):
        try:
            client.get_foundation_model(modelIdentifier=model_id)
        except (ClientError, BotoCoreError) as exc:
            code, message = aws_error(exc)
            if code not in UNAVAILABLE:
                log.warning("the %s model %s could not be checked: %s: %s", role, model_id, code, message)
                continue
            raise EvaluationError(
                "Evaluation.JudgeUnavailable",
                f"Bedrock in {region} does not offer the {role} model {model_id} to this account "
                f"({code}: {message}); set JUDGE_MODEL_ID / JUDGE_EMBEDDING_MODEL_ID or BEDROCK_REGION "
                "(terraform: judge_model_id, judge_embedding_model_id, bedrock_region)",
            ) from exc
