"""The HTTP client workers use to talk to the API (the only writer of the run database, docs/decisions/0005-system-of-record.md)."""

from __future__ import annotations

import os
from typing import Any

import httpx
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from mlops_contracts.secrets import ApiKeyMissing, service_api_key


class ApiError(RuntimeError):
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        try:
            self.detail: Any = response.json().get("detail")
        except ValueError:
            self.detail = response.text[:500]
        super().__init__(
            f"{response.request.method} {response.request.url.path}: {self.status_code} {self.detail}"
        )


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, ApiError) and (exc.status_code >= 500 or exc.status_code == 429)


class ApiClient:
    """Retries transient failures (connection errors, 5xx, 429) with jittered backoff; any other
    error status raises ApiError at once."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers={"X-API-Key": api_key}, timeout=timeout
        )

    @classmethod
    def from_env(cls) -> ApiClient:
        """API_URL, and a `service` key: API_KEY, else the secret API_KEY_SECRET_ID names."""
        url = os.environ.get("API_URL")
        if not url:
            raise RuntimeError("API_URL is not set: workers need API_URL and a service API key")
        try:
            key = service_api_key()
        except ApiKeyMissing as exc:
            raise RuntimeError(
                "neither API_KEY nor API_KEY_SECRET_ID is set: workers need a service API key"
            ) from exc
        return cls(url, key)

    @retry(
        retry=retry_if_exception(_transient),
        wait=wait_exponential_jitter(multiplier=0.2, max=5),
        stop=stop_after_attempt(5),
        reraise=True,
    )
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response)
        return response

    def close(self) -> None:
        self._http.close()
