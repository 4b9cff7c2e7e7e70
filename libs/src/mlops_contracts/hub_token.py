"""The Hugging Face token of gated and private base models (docs/decisions/0008-security.md:
secrets only in Secrets Manager).

On AWS the jobs are given the id of the secret `mlops/hf-token` (HF_TOKEN_SECRET_ID) and read the
token from Secrets Manager when they start: the id may show in DescribeTrainingJob, the token never
does (it is neither a hyperparameter nor an environment value of the job). Locally, HF_TOKEN is used
when it is set, as huggingface_hub itself reads it. The token is never logged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping

from mlops_contracts.secrets import read_secret

SECRET_ID_VARIABLE = "HF_TOKEN_SECRET_ID"  # noqa: S105 (a variable's name)
TOKEN_VARIABLE = "HF_TOKEN"  # noqa: S105 (the variable huggingface_hub reads)


class HubTokenError(RuntimeError):
    """The secret the job was pointed at cannot be read; the message names it, never its value."""


def token_in(secret: str) -> str | None:
    """The secret's value: the plain token, or JSON with a `token` (or `hf_token`) field."""
    try:
        parsed = json.loads(secret)
    except json.JSONDecodeError:
        return secret.strip() or None
    if isinstance(parsed, dict):
        for field in ("token", "hf_token"):
            if isinstance(parsed.get(field), str) and parsed[field].strip():
                return str(parsed[field]).strip()
        return None
    return secret.strip() or None


def resolve_hub_token(env: Mapping[str, str]) -> str | None:
    """HF_TOKEN_SECRET_ID's secret when the job was given one, else HF_TOKEN, else None (public
    models need none). An empty secret counts as no token."""
    secret_id = env.get(SECRET_ID_VARIABLE)
    if secret_id:
        try:
            value = read_secret(secret_id, max_attempts=3)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise HubTokenError(
                f"the Hugging Face token secret {secret_id} cannot be read ({code})"
            ) from None
        return token_in(value)
    return env.get(TOKEN_VARIABLE) or None


def install_hub_token(env: Mapping[str, str], process_env: MutableMapping[str, str] | None = None) -> bool:
    """Put the job's token where huggingface_hub reads it (this process's HF_TOKEN, not the job's
    configuration). True when there is a token."""
    token = resolve_hub_token(env)
    if token is None:
        return False
    target = os.environ if process_env is None else process_env
    target[TOKEN_VARIABLE] = token
    return True
