"""Settings of the training dispatcher (environment variables, one class): a bad value stops the
dispatcher's cold start with a message naming the variable."""

from __future__ import annotations

from pydantic import Field, field_validator

from mlops_contracts.settings import PlatformSettings

BACKENDS = ("sagemaker", "local")


class DispatcherSettings(PlatformSettings):
    training_backend: str = Field(
        default="sagemaker",
        validation_alias="TRAINING_BACKEND",
        description="sagemaker: a SageMaker training job; local: the same entrypoint as a subprocess",
    )
    heartbeat_seconds: float = Field(
        default=60.0, gt=0, validation_alias="TRAINING_HEARTBEAT_SECONDS", description="local backend only"
    )
    entrypoint: str | None = Field(
        default=None,
        validation_alias="TRAINING_ENTRYPOINT",
        description="the local backend's command instead of `python -m mlops_training` (shell words)",
    )

    @field_validator("training_backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKENDS:
            raise ValueError(f"TRAINING_BACKEND must be 'sagemaker' or 'local', got '{value}'")
        return value


def get_settings() -> DispatcherSettings:
    """Read afresh on each task, as os.environ was: a few microseconds beside a training job."""
    return DispatcherSettings()
