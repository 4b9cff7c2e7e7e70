"""The API client of the projector's handlers, built once per process from their settings."""

from __future__ import annotations

from functools import lru_cache

from mlops_contracts.api_client import ApiClient
from mlops_contracts.secrets import resolve_api_key
from mlops_projector.settings import ProjectorSettings


@lru_cache(maxsize=1)
def api_client() -> ApiClient:
    settings = ProjectorSettings()
    secret = settings.api_key.get_secret_value() if settings.api_key else None
    key = resolve_api_key(secret, settings.api_key_secret_id)
    return ApiClient(str(settings.api_url), key)
