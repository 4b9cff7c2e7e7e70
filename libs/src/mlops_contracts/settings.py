"""The settings base every service and worker extends (one `Settings` class per service)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlops_contracts.events import EVENT_BUS_NAME


class PlatformSettings(BaseSettings):
    """Settings common to every component. Values come from the environment (and, for local
    development, the env file that `terraform/envs/local` writes)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    aws_region: str = Field(default="eu-west-1", validation_alias="AWS_REGION")
    # boto3 reads AWS_ENDPOINT_URL itself; it is mirrored here so components can show it.
    aws_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    aws_max_attempts: int = Field(default=5, ge=1, le=20, validation_alias="AWS_MAX_ATTEMPTS")
    event_bus_name: str = Field(default=EVENT_BUS_NAME, validation_alias="EVENT_BUS_NAME")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
