"""Settings of the API service."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, field_validator
from sqlalchemy.engine import URL

from mlops_api.db import DatabaseTarget, DatabaseUrlError
from mlops_api.db_credentials import SecretCredentials
from mlops_contracts.settings import PlatformSettings


class Settings(PlatformSettings):
    database_url: str = Field(
        default="",
        validation_alias="DATABASE_URL",
        description="postgresql://user:pass@host:port/db; empty = the embedded server of `make dev`",
    )
    # Production: no URL, the credentials come from the RDS-managed secret (rotated by RDS).
    database_host: str = Field(default="", validation_alias="DATABASE_HOST")
    database_port: int = Field(default=5432, ge=1, le=65535, validation_alias="DATABASE_PORT")
    database_name: str = Field(default="", validation_alias="DATABASE_NAME")
    database_secret_arn: str = Field(
        default="",
        validation_alias="DATABASE_SECRET_ARN",
        description="Secrets Manager secret {username, password}; read again when the password is refused",
    )
    migrate_on_start: bool = Field(
        default=False,
        validation_alias="MIGRATE_ON_START",
        description="`mlops-api serve` upgrades the schema first (one instance at a time)",
    )
    datasets_bucket: str = Field(default="mlops-datasets", validation_alias="DATASETS_BUCKET")
    model_outputs_bucket: str = Field(
        default="mlops-model-outputs",
        validation_alias="MODEL_OUTPUTS_BUCKET",
        description="the bucket of the runs' outputs: a result's *_uri must lie under its run's prefix there",
    )
    max_upload_bytes: int = Field(default=1 << 30, ge=1, validation_alias="MAX_UPLOAD_BYTES")
    max_json_body_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        validation_alias="MAX_JSON_BODY_BYTES",
        description="the largest body of a request other than an upload (checked before it is read)",
    )
    max_line_bytes: int = Field(default=1 << 20, ge=64, validation_alias="MAX_LINE_BYTES")
    max_reported_line_errors: int = Field(default=50, ge=1, validation_alias="MAX_REPORTED_LINE_ERRORS")
    admin_may_approve: bool = Field(
        default=False,
        validation_alias="ADMIN_MAY_APPROVE",
        description="whether admin keys may approve or reject runs (off: separation of duties, approvers decide)",
    )
    api_key_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        validation_alias="API_KEY_CACHE_SECONDS",
        description="how long a verified key is trusted before the database is asked again",
    )
    db_pool_size: int = Field(
        default=20,
        ge=1,
        validation_alias="DB_POOL_SIZE",
        description="database connections per API process for the requests (kept open; the relay has one more; workers x (this + 1) < max_connections)",
    )
    outbox_relay_enabled: bool = Field(default=True, validation_alias="OUTBOX_RELAY_ENABLED")
    outbox_batch_size: int = Field(default=10, ge=1, le=10, validation_alias="OUTBOX_BATCH_SIZE")
    outbox_poll_seconds: float = Field(default=0.5, gt=0, validation_alias="OUTBOX_POLL_SECONDS")
    outbox_max_backoff_seconds: float = Field(
        default=30.0, gt=0, validation_alias="OUTBOX_MAX_BACKOFF_SECONDS"
    )
    outbox_linger_seconds: float = Field(
        default=0.02,
        ge=0,
        le=1,
        validation_alias="OUTBOX_LINGER_SECONDS",
        description="once woken, how long the relay may wait for a full batch (0 = publish at once)",
    )
    reconcile_interval_seconds: float = Field(
        default=300.0,
        ge=0,
        validation_alias="RECONCILE_INTERVAL_SECONDS",
        description="how often active runs are compared with their workflow executions (0 = never)",
    )
    reconcile_grace_seconds: float = Field(
        default=120.0,
        ge=0,
        validation_alias="RECONCILE_GRACE_SECONDS",
        description="how long after its execution ended a run may still be waiting for the news",
    )
    log_format: str = Field(default="json", pattern="^(json|text)$", validation_alias="LOG_FORMAT")
    health_timeout_seconds: float = Field(default=2.0, gt=0, validation_alias="HEALTH_TIMEOUT_SECONDS")
    # Approvals (docs/decisions/0008-security.md): the key that signs approval links, given directly
    # or, in production, read from Secrets Manager. Links cannot be issued or honoured without one.
    approval_signing_key: SecretStr | None = Field(
        default=None,
        validation_alias="APPROVAL_SIGNING_KEY",
        description="at least 32 characters; takes precedence over APPROVAL_SIGNING_SECRET_ID",
    )
    approval_signing_secret_id: str = Field(
        default="mlops/approval-signing-key",
        validation_alias="APPROVAL_SIGNING_SECRET_ID",
        description="Secrets Manager secret holding the link signing key; empty = do not look it up",
    )
    approval_signing_key_cache_seconds: float = Field(
        default=300.0, ge=0, validation_alias="APPROVAL_SIGNING_KEY_CACHE_SECONDS"
    )
    public_api_url: str = Field(
        default="",
        validation_alias="PUBLIC_API_URL",
        description="base URL of approval links (what a Teams user can reach); empty = the request's",
    )

    def database_target(self) -> DatabaseTarget:
        """DATABASE_URL when set, else DATABASE_HOST/PORT/NAME with DATABASE_SECRET_ARN's credentials."""
        if self.database_url:
            return DatabaseTarget.of(self.database_url)
        parts = {
            "DATABASE_HOST": self.database_host,
            "DATABASE_NAME": self.database_name,
            "DATABASE_SECRET_ARN": self.database_secret_arn,
        }
        missing = [name for name, value in parts.items() if not value]
        if len(missing) == len(parts):
            raise DatabaseUrlError(
                "no database configured: set DATABASE_URL (or DATABASE_HOST, DATABASE_NAME and "
                "DATABASE_SECRET_ARN), or start the stack with `make dev`"
            )
        if missing:
            raise DatabaseUrlError(
                "DATABASE_URL is not set and DATABASE_HOST, DATABASE_NAME, DATABASE_SECRET_ARN are "
                f"incomplete (missing: {', '.join(missing)})"
            )
        url = URL.create(
            "postgresql", host=self.database_host, port=self.database_port, database=self.database_name
        )
        return DatabaseTarget(url, SecretCredentials(self.database_secret_arn))

    @field_validator("approval_signing_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("approval_signing_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(
                "APPROVAL_SIGNING_KEY must be at least 32 characters (e.g. `openssl rand -hex 32`)"
            )
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
