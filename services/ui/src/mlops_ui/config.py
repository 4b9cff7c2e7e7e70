"""Settings of the dashboard: where the API is, how people sign in, how often active runs are refreshed."""

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

    # Sign-in (docs/decisions/0017-people-signed-in-at-the-load-balancer.md). Behind the ALB a person is
    # signed in before the dashboard is reached and their identity header is passed on to the API.
    identity_cookie: str = Field(
        default="",
        validation_alias="UI_IDENTITY_COOKIE",
        description="development only: the cookie holding the signed identity `make dev`'s sign-in page sets (empty behind the ALB)",
    )
    sign_in_url: str = Field(
        default="",
        validation_alias="UI_SIGN_IN_URL",
        description="`make dev`'s local sign-in page, linked from the sign-in screen (empty behind the ALB)",
    )
    api_key_sign_in: bool = Field(
        default=False,
        validation_alias="UI_API_KEY_SIGN_IN",
        description="offer sign-in with an API key (`make dev` only; in production people sign in at the ALB)",
    )


def get_settings() -> Settings:
    return Settings()
