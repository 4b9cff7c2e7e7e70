"""Settings of the projector (environment variables, one class): a bad or missing value fails the
first invocation with a message naming the variable, before any record is touched."""

from __future__ import annotations

from pydantic import AliasChoices, AnyHttpUrl, Field, SecretStr, model_validator

from mlops_contracts.settings import PlatformSettings


class ProjectorSettings(PlatformSettings):
    api_url: AnyHttpUrl = Field(
        validation_alias="API_URL", description="the API the projector writes through"
    )
    api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("PROJECTOR_API_KEY", "API_KEY")
    )
    api_key_secret_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PROJECTOR_API_KEY_SECRET_ID", "API_KEY_SECRET_ID"),
        description="Secrets Manager id of the projector key (PROJECTOR_... is for a process that runs several workers)",
    )

    @model_validator(mode="after")
    def _a_key_is_given(self) -> ProjectorSettings:
        if self.api_key is None and not self.api_key_secret_id:
            raise ValueError(
                "neither PROJECTOR_API_KEY nor API_KEY (nor their _SECRET_ID) is set: the projector needs its key"
            )
        return self
