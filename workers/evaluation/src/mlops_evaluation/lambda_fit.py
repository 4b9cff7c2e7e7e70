"""EVALUATION_BACKEND=lambda is for small models: the function loads the candidate in fp32 on its CPU
(candidate.py), so the weights alone take 4 bytes per parameter of the function's memory (10 GB at
most). A model that cannot fit is refused before anything is downloaded, with the reason on the run
(a 7B model needs ~28 GB: run it with EVALUATION_BACKEND=sagemaker, on a GPU).

The parameter count comes from the one model-shape estimate (mlops_contracts.gpu_sizing) and the
model's config.json: a known hub shape or a local folder there, else the config.json of an s3://
prefix, else the Hub's (transformers' AutoConfig). A model whose config cannot be read is not refused
here: loading it fails with its own reason.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from mlops_contracts.gpu_sizing import GIB, ModelShape, SizingError, model_config_for
from mlops_evaluation import storage
from mlops_evaluation.messages import EvaluationTask
from mlops_evaluation.mlscore import EvaluationError
from mlops_evaluation.settings import EvaluationSettings

log = logging.getLogger(__name__)

FP32_BYTES = 4
# the Python runtime, torch, the tokenizer, the judge's embedder and activations beside the weights
RUNTIME_OVERHEAD_BYTES = int(1.5 * GIB)


class ModelTooLargeForLambda(EvaluationError):
    def __init__(self, reason: str) -> None:
        super().__init__("Evaluation.ModelTooLarge", reason)


def _read_config(model_id: str) -> dict[str, Any] | None:
    config = model_config_for(model_id)
    if config is not None:
        return config
    try:
        if model_id.startswith("s3://"):
            loaded = json.loads(storage.read_bytes(model_id.rstrip("/") + "/config.json"))
            return loaded if isinstance(loaded, dict) else None
        if not model_id.startswith(("/", "file://")):
            from transformers import AutoConfig

            from mlops_contracts.hub_token import install_hub_token

            install_hub_token(os.environ)  # a gated model's config needs the token too
            return dict(AutoConfig.from_pretrained(model_id).to_dict())
    except Exception as exc:
        log.warning("cannot read the config of %s to size it (%s); not refused", model_id, exc)
    return None


def weights_bytes(config: dict[str, Any]) -> int:
    return ModelShape.from_config(config).parameters * FP32_BYTES


def require_lambda_fit(task: EvaluationTask, settings: EvaluationSettings) -> None:
    """Raise ModelTooLargeForLambda when the candidate's fp32 weights and the runtime exceed the
    function's memory."""
    config = _read_config(task.model_id)
    if config is None:
        return
    try:
        weights = weights_bytes(config)
    except SizingError as exc:
        log.warning("cannot size %s (%s); not refused", task.model_id, exc)
        return
    needed = weights + RUNTIME_OVERHEAD_BYTES
    memory = settings.lambda_memory_mb * 2**20
    if needed > memory:
        raise ModelTooLargeForLambda(
            f"{task.model_id} needs about {needed / GIB:.1f} GiB in fp32 on CPU ({weights / GIB:.1f} GiB of "
            f"weights + {RUNTIME_OVERHEAD_BYTES / GIB:.1f} GiB runtime) but the evaluation function has "
            f"{memory / GIB:.1f} GiB (EVALUATION_BACKEND=lambda); evaluate it on a GPU with "
            "EVALUATION_BACKEND=sagemaker"
        )
