"""The one place boto3 clients are built (docs/decisions/0004-ports-and-adapters.md).

Endpoints are never passed here: boto3 honours `AWS_ENDPOINT_URL` (and the per-service
`AWS_ENDPOINT_URL_<SERVICE>`) natively, so the same code talks to AWS, moto or LocalStack.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def client_config(
    *, max_attempts: int = 5, connect_timeout: float = 3.0, read_timeout: float = 30.0
) -> Config:
    return Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        tcp_keepalive=True,
    )


@lru_cache(maxsize=64)
def _cached_client(
    service: str, region: str | None, max_attempts: int, connect_timeout: float, read_timeout: float
) -> Any:
    # A session per client: boto3's default session is not thread-safe to build clients from.
    session = boto3.session.Session()
    return session.client(
        service,
        region_name=region,
        config=client_config(
            max_attempts=max_attempts, connect_timeout=connect_timeout, read_timeout=read_timeout
        ),
    )


def aws_client(
    service: str,
    *,
    region: str | None = None,
    max_attempts: int = 5,
    connect_timeout: float = 3.0,
    read_timeout: float = 30.0,
) -> Any:
    """A cached, thread-safe boto3 client. `region=None` takes AWS_REGION, then AWS_DEFAULT_REGION
    (botocore itself reads only the latter)."""
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return _cached_client(service, region, max_attempts, connect_timeout, read_timeout)


@lru_cache(maxsize=1)
def aws_credentials() -> Any:
    """The credentials the clients above sign with (environment, profile, container or instance
    role), for a request signed outside a client; botocore refreshes them before they expire."""
    credentials = boto3.session.Session().get_credentials()
    if credentials is None:
        raise RuntimeError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
            "or run with a role"
        )
    return credentials


def reset_clients() -> None:
    """Forget cached clients (after the endpoint or credentials in the environment changed)."""
    _cached_client.cache_clear()
    aws_credentials.cache_clear()


def aws_error(exc: BaseException) -> tuple[str, str]:
    """The error code and message AWS answered (`ResourceLimitExceeded`, "The account-level
    service limit ..."), for a reason a person reads; for botocore's own errors (no connection,
    a timeout) its class name and text. The message is prefixed with the operation when known."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "ClientError")
        message = str(error.get("Message") or exc)
        operation = getattr(exc, "operation_name", "")
        return code, f"{operation}: {message}" if operation else message
    return type(exc).__name__, str(exc)
