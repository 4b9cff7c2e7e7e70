"""Secrets Manager reads, and the service API key workers present to the API.

Locally the key comes straight from API_KEY; in production the Lambdas get API_KEY_SECRET_ID instead,
so the key never sits in a function's configuration."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from mlops_contracts.aws import aws_client


class ApiKeyMissing(RuntimeError):
    pass


def read_secret(secret_id: str, *, region: str | None = None, max_attempts: int = 5) -> str:
    """The current SecretString of a secret (name or ARN)."""
    client = aws_client("secretsmanager", region=region, max_attempts=max_attempts)
    answer = client.get_secret_value(SecretId=secret_id)
    return str(answer.get("SecretString") or "")


def api_key_in(secret: str) -> str:
    """A secret holding the key: the plain key, or JSON with an `api_key` field."""
    try:
        parsed = json.loads(secret)
    except json.JSONDecodeError:
        return secret.strip()
    if isinstance(parsed, dict) and isinstance(parsed.get("api_key"), str):
        return str(parsed["api_key"])
    return secret.strip()


def resolve_api_key(api_key: str | None, secret_id: str | None) -> str:
    """The key given directly, else the one in the secret `secret_id` names."""
    if api_key:
        return api_key
    if secret_id:
        return api_key_in(read_secret(secret_id))
    raise ApiKeyMissing("no service API key: set API_KEY or API_KEY_SECRET_ID")


def key_variables(worker: str | None) -> tuple[str, ...]:
    """The variables a worker's key may come from, its own first: `<WORKER>_API_KEY` lets the local
    runner (one process for every worker) give each worker its own key; a Lambda has an environment
    of its own and sets the plain API_KEY / API_KEY_SECRET_ID."""
    own = f"{worker.upper().replace('-', '_')}_API_KEY" if worker else None
    return (own, "API_KEY") if own else ("API_KEY",)


# The workers that call the API, each by its own role (services/api auth/roles.py, the one table).
WORKER_ROLES = ("projector", "evaluator", "approval-worker", "trainer", "deployer")


def worker_key_environment(keys: Mapping[str, str]) -> dict[str, str]:
    """The variables that give each worker of one process its own key: {role: key} -> {VAR: key}."""
    return {key_variables(role)[0]: key for role, key in keys.items()}


def service_api_key(environ: Mapping[str, str] | None = None, *, worker: str | None = None) -> str:
    """The worker's key: `<WORKER>_API_KEY`, else the secret `<WORKER>_API_KEY_SECRET_ID` names, else
    API_KEY / API_KEY_SECRET_ID (read on each call: callers keep the result)."""
    env = os.environ if environ is None else environ
    for variable in key_variables(worker):
        if env.get(variable) or env.get(f"{variable}_SECRET_ID"):
            return resolve_api_key(env.get(variable), env.get(f"{variable}_SECRET_ID"))
    names = " or ".join(f"{v} or {v}_SECRET_ID" for v in key_variables(worker))
    raise ApiKeyMissing(f"no service API key: set {names}")
