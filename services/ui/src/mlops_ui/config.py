"""Settings of the dashboard: where the API is, and how often active runs are refreshed."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    api_url: str = Field(
        default="http://127.0.0.1:8000",
        validation_alias="API_URL",
        description="Base URL of the platform API (the dashboard talks to nothing else)",
    )
    api_timeout_seconds: float = Field(default=15.0, gt=0, validation_alias="API_TIMEOUT_SECONDS")
    default_base_model: str = Field(
        default="mistralai/Mistral-7B-v0.1",
        validation_alias="DEFAULT_BASE_MODEL",
        description="The launch form's suggested base model id; `make dev` sets it to its offline tiny model",
    )
    refresh_seconds: float = Field(
        default=5.0,
        ge=1,
        validation_alias="UI_REFRESH_SECONDS",
        description="How often pages showing active runs refresh themselves",
    )


def get_settings() -> Settings:
    return Settings()
