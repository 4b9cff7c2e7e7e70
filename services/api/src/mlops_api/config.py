"""Settings of the API service."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, field_validator
from sqlalchemy.engine import URL

from mlops_api.auth.identity import IdentityVerifier, PublicKeys, parse_role_groups
from mlops_api.auth.roles import Role
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
    model_source_buckets: str = Field(
        default="",
        validation_alias="MODEL_SOURCE_BUCKETS",
        pattern=r"^(?:[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?:,[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])*)?$",
        description="more buckets an s3:// model_id may name (comma-separated), besides the datasets and "
        "model-outputs buckets; the jobs' roles must be granted read on them too",
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
    # What the release workflow's 7 days leave for training (docs/decisions/0002-one-asl-template.md):
    # Terraform computes it from the workflow's timeouts (modules/platform_core) and gives it to the
    # API; the default is what the default variables give (72 h approval, 1 h evaluation queue).
    max_training_runtime_seconds: int = Field(
        default=163942,
        ge=60,
        validation_alias="MAX_TRAINING_RUNTIME_SECONDS",
        description="the largest hyperparameters.max_runtime_seconds POST /runs accepts (published as its maximum)",
    )
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
    # In AWS the ADOT collector beside the API scrapes /metrics over the task's loopback; the load
    # balancer answers /metrics 404, and this refuses it too when a path encoding slips past that
    # rule (/%6Detrics reaches the same route) (docs/decisions/0019-platform-metrics-and-traces.md).
    metrics_loopback_only: bool = Field(
        default=False,
        validation_alias="METRICS_LOOPBACK_ONLY",
        description="answer GET /metrics only to clients on 127.0.0.1 / ::1 (404 to the others)",
    )
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

    # People signed in at the load balancer (docs/decisions/0017-people-signed-in-at-the-load-balancer.md).
    oidc_alb_arn: str = Field(
        default="",
        validation_alias="OIDC_ALB_ARN",
        description="the ALB whose signed identity header (x-amzn-oidc-data) is accepted (its `signer`); empty = API keys only",
    )
    oidc_public_key_url: str = Field(
        default="https://public-keys.auth.elb.{region}.amazonaws.com",
        validation_alias="OIDC_PUBLIC_KEY_URL",
        description="where the ALB's public key of a token's kid is fetched ({region} = AWS_REGION); `make dev`: its local signer",
    )
    oidc_groups_claim: str = Field(
        default="groups",
        min_length=1,
        validation_alias="OIDC_GROUPS_CLAIM",
        description="the claim of the person's groups (a list, or names separated by spaces or commas)",
    )
    oidc_role_groups: dict[str, Role] = Field(
        default_factory=lambda: {
            "mlops-viewers": Role.VIEWER,
            "mlops-operators": Role.OPERATOR,
            "mlops-approvers": Role.APPROVER,
            "mlops-admins": Role.ADMIN,
        },
        validation_alias="OIDC_ROLE_GROUPS",
        description="JSON object group -> role (viewer, operator, approver, admin); several: the first of admin, approver, operator, viewer",
    )
    oidc_dev_cookie: str = Field(
        default="",
        validation_alias="OIDC_DEV_COOKIE",
        description="development only: a cookie also read for the signed identity (`make dev`'s sign-in page sets it); empty in production",
    )
    sign_in_url: str = Field(
        default="",
        validation_alias="SIGN_IN_URL",
        description="where an approval page sends a person who is not signed in (`make dev`: the local sign-in page; empty behind the ALB, which signs people in)",
    )

    @property
    def readable_model_buckets(self) -> tuple[str, ...]:
        """The buckets the training and evaluation jobs may read a model from."""
        extra = [b for b in self.model_source_buckets.split(",") if b]
        return tuple(dict.fromkeys([self.datasets_bucket, self.model_outputs_bucket, *extra]))

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

    @field_validator("oidc_role_groups", mode="before")
    @classmethod
    def _people_roles(cls, value: object) -> object:
        if isinstance(value, str | dict):
            return parse_role_groups(value)
        return value

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


def identity_verifier(settings: Settings) -> IdentityVerifier | None:
    """The check of signed identities, where OIDC_ALB_ARN names the load balancer."""
    if not settings.oidc_alb_arn:
        return None
    return IdentityVerifier(
        alb_arn=settings.oidc_alb_arn,
        keys=PublicKeys(settings.oidc_public_key_url.replace("{region}", settings.aws_region)),
        role_groups=settings.oidc_role_groups,
        groups_claim=settings.oidc_groups_claim,
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
