"""Settings of the deployer (environment variables, one class): a bad value stops the cold start
with a message naming the variable."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from mlops_contracts.settings import PlatformSettings

BACKENDS = ("sagemaker", "local")


class DeployerSettings(PlatformSettings):
    serving_backend: str = Field(
        default="sagemaker",
        validation_alias="SERVING_BACKEND",
        description="sagemaker: a SageMaker endpoint; local: the serving container's entrypoint as a process",
    )
    heartbeat_seconds: float = Field(default=60.0, gt=0, validation_alias="DEPLOYER_HEARTBEAT_SECONDS")
    start_timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        validation_alias="DEPLOYER_START_TIMEOUT_SECONDS",
        description="until /ping or InService",
    )
    smoke_questions: int = Field(default=3, ge=1, le=20, validation_alias="DEPLOYER_SMOKE_QUESTIONS")
    smoke_latency_seconds: float = Field(
        default=30.0,
        gt=0,
        validation_alias="DEPLOYER_SMOKE_LATENCY_SECONDS",
        description="per smoke question",
    )
    smoke_max_new_tokens: int = Field(
        default=32, ge=1, le=512, validation_alias="DEPLOYER_SMOKE_MAX_NEW_TOKENS"
    )
    # local backend
    state_dir: Path = Field(
        default=Path(".local/deployments"),
        validation_alias="DEPLOYER_STATE_DIR",
        description="local backend: the extracted models, the serving processes' logs and pid files",
    )
    serving_command: str = Field(
        default="",
        validation_alias="DEPLOYER_SERVING_COMMAND",
        description="local backend: the command instead of `python -m mlops_serving serve` (shell words)",
    )
    # sagemaker backend
    execution_role_arn: str = Field(default="", validation_alias="SAGEMAKER_EXECUTION_ROLE_ARN")
    instance_type: str = Field(
        default="", validation_alias="SERVING_INSTANCE_TYPE", description="empty: the GPU table's"
    )
    initial_instance_count: int = Field(default=1, ge=1, le=10, validation_alias="SERVING_INSTANCE_COUNT")
    data_capture_uri: str = Field(default="", validation_alias="SERVING_DATA_CAPTURE_URI")
    canary_percent: int = Field(default=10, ge=1, le=50, validation_alias="SERVING_CANARY_PERCENT")
    canary_wait_seconds: int = Field(
        default=300, ge=0, le=3600, validation_alias="SERVING_CANARY_WAIT_SECONDS"
    )
    alarm_prefix: str = Field(default="mlops-serving", validation_alias="SERVING_ALARM_PREFIX")

    @field_validator("serving_backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKENDS:
            raise ValueError(f"SERVING_BACKEND must be 'sagemaker' or 'local', got '{value}'")
        return value


def get_settings() -> DeployerSettings:
    return DeployerSettings()
