"""POST /runs refuses a fine-tuning run that cannot fit its GPU (mlops_contracts.gpu_sizing): a 422
naming the estimate, the instance's memory and configurations that fit, before any GPU time is paid.

The model's shape comes from the known hub shapes or a local folder's config.json; a model the API
cannot shape (an unknown hub id, an s3:// prefix) is not refused: the training worker sizes it again
from the downloaded config.json before loading the weights.
"""

from __future__ import annotations

from mlops_api.errors import Unprocessable
from mlops_api.runs.schemas import RunCreate
from mlops_contracts.gpu_sizing import SizingError, SizingVerdict, TrainingSetup, check, model_config_for
from mlops_contracts.status import TaskType


def size_run(request: RunCreate) -> SizingVerdict | None:
    """The verdict for a fine-tuning run whose model the API can shape, else None."""
    if request.task_type is not TaskType.FINETUNE:
        return None
    config = model_config_for(request.model_id)
    if config is None:
        return None
    hp = request.hyperparameters
    try:
        return check(
            request.model_id, config, hp.instance_type, TrainingSetup.from_hyperparameters(hp.model_dump())
        )
    except SizingError as exc:
        raise Unprocessable(f"model_id {request.model_id}: {exc}") from None


def require_fit(request: RunCreate) -> None:
    verdict = size_run(request)
    if verdict is not None and not verdict.fits:
        raise Unprocessable(verdict.message())
