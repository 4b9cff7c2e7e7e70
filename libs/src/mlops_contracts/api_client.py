"""The one HTTP client of the platform API: the workers, the dashboard and the demo share it.

The API is the only writer of the run database (docs/decisions/0005-system-of-record.md); every
other part of the platform talks to it through `ApiClient`:

- it sends the API key in `X-API-Key`, or (the dashboard) the signed-in person's identity header
  it received from the load balancer;
- it retries what may pass (no answer, a timeout, 5xx, 429) with jittered exponential backoff,
  `attempts` tries in all: 5 by default, 1 for the dashboard, where a person sees the error and
  tries again;
- every failure raises `ApiError` with a message a person can read, made from the API's own
  `detail` (a string, a list of field errors or a dataset's per-line report); status 0 when the
  API did not answer.

There are two error hierarchies on purpose, one per side of the wire. `mlops_api.errors.ApiError`
is the server's: what a route raises and how it becomes `{"detail": ...}`. `ApiError` here is the
caller's view of that answer. It lives in libs because the workers, the dashboard and the demo
catch it, and libs imports no service (an import-linter contract, pyproject.toml).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

# The load balancer's signed identity of a person (verified by the API: mlops_api.auth.identity).
IDENTITY_HEADER = "x-amzn-oidc-data"

# Where a validation error points (`loc`) without the request part, as the launch form names fields.
_LOCATIONS = frozenset({"body", "query", "path", "header", "form", "file"})


@dataclass(frozen=True)
class LineError:
    """One invalid line of an uploaded dataset, as the API reports it."""

    line: int
    error: str


class ApiError(Exception):
    """A request that did not succeed.

    `status_code` is the API's answer, 0 when it did not answer (`unreachable`). `message` is what
    to show a person (also `str(error)`); `detail` is the API's `detail` as sent. A validation
    error fills `field_errors` (field path -> message); a refused dataset upload `line_errors`.
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        detail: Any = None,
        field_errors: dict[str, str] | None = None,
        line_errors: list[LineError] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.detail = detail
        self.field_errors = dict(field_errors or {})
        self.line_errors = list(line_errors or [])

    def __str__(self) -> str:
        return self.message

    @property
    def unreachable(self) -> bool:
        return self.status_code == 0

    @property
    def transient(self) -> bool:
        """Worth another try: no answer, the API failed (5xx) or asked to slow down (429)."""
        return self.status_code == 0 or self.status_code >= 500 or self.status_code == 429


def _field_name(loc: list[Any]) -> str:
    return ".".join(str(part) for part in loc if str(part) not in _LOCATIONS)


def _clean(msg: str) -> str:
    # pydantic prefixes a validator's own text with "Value error, "; a person does not need it.
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def error_from_response(response: httpx.Response) -> ApiError:
    """The `ApiError` of an error response, its message made from the API's `detail`."""
    status = response.status_code
    detail: Any
    try:
        body = response.json()
    except ValueError:  # not JSON (a proxy's page): kept in `detail`, not shown as the message
        body, detail = None, response.text[:500]
    else:
        detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI validation errors: [{loc, msg, type}]
        fields: dict[str, str] = {}
        general: list[str] = []
        for item in detail:
            if not isinstance(item, dict):
                continue
            name = _field_name(list(item.get("loc") or []))
            msg = _clean(str(item.get("msg", "invalid value")))
            if name:
                fields.setdefault(name, msg)
            else:
                general.append(msg)
        summary = "; ".join(general + [f"{name}: {msg}" for name, msg in fields.items()])
        return ApiError(status, summary or "the request was not valid", detail=detail, field_errors=fields)
    if isinstance(detail, dict):  # a dataset upload's report: {message, errors: [{line, error}]}
        lines = [
            LineError(int(e.get("line", 0)), str(e.get("error", "")))
            for e in detail.get("errors", [])
            if isinstance(e, dict)
        ]
        message = str(detail.get("message") or "the request was not valid")
        return ApiError(status, message, detail=detail, line_errors=lines)
    if isinstance(detail, str) and detail and body is not None:
        return ApiError(status, detail, detail=detail)
    reason = response.reason_phrase or "error"
    if status >= 500:
        return ApiError(status, f"the API failed ({status} {reason}); try again in a moment", detail=detail)
    return ApiError(status, f"the API answered {status} {reason}", detail=detail)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, ApiError) and exc.transient


def _retry_policy(attempts: int) -> dict[str, Any]:
    """tenacity's arguments, the same for the sync and the async client: retry what may pass,
    jittered exponential backoff (at most 5 s between tries), `attempts` in all."""
    return {
        "retry": retry_if_exception(_transient),
        "wait": wait_exponential_jitter(multiplier=0.2, max=5),
        "stop": stop_after_attempt(attempts),
        "reraise": True,
    }


def _unreachable(base_url: str, exc: httpx.TransportError) -> ApiError:
    if isinstance(exc, httpx.TimeoutException):
        return ApiError(0, f"the API at {base_url} did not answer in time")
    return ApiError(0, f"cannot reach the API at {base_url} ({type(exc).__name__})")


class ApiClient:
    """A client of the platform API. `request` is the general call (it returns the response);
    the methods below it are the endpoints, returning the decoded JSON.

    `transport` replaces httpx's network transport (tests pass an `httpx.MockTransport`);
    `headers` are sent with every request (the SDK's signed-in session: its cookie).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        attempts: int = 5,
        transport: httpx.BaseTransport | None = None,
        identity: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {**(headers or {}), **({"X-API-Key": api_key} if api_key else {})}
        if identity:  # the dashboard acts as the signed-in person: the ALB's signed header, passed on
            headers[IDENTITY_HEADER] = identity
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )
        self._retrying = Retrying(**_retry_policy(attempts))

    @classmethod
    def from_env(cls, worker: str | None = None) -> ApiClient:
        """A worker's client: API_URL, and the worker's own key (`worker` names its role):
        `<WORKER>_API_KEY`, else API_KEY, each also as a secret `..._SECRET_ID` names."""
        url = os.environ.get("API_URL")
        if not url:
            raise RuntimeError("API_URL is not set: workers need API_URL and an API key")
        # imported here: it brings boto3 (Secrets Manager), which the SDK and the `mlops` command,
        # built on this module, do not need (0.4 s of every command's start)
        from mlops_contracts.secrets import ApiKeyMissing, key_variables, service_api_key

        try:
            key = service_api_key(worker=worker)
        except ApiKeyMissing as exc:
            names = [f"{v}{suffix}" for v in key_variables(worker) for suffix in ("", "_SECRET_ID")]
            raise RuntimeError(
                f"neither {' nor '.join(names)} is set: workers need an API key of their own role"
            ) from exc
        return cls(url, key)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request (httpx's keyword arguments: json, params, data, files, timeout...),
        retried as the class says; a status of 400 or more raises `ApiError`."""
        return self._retrying.copy()(self._send, method, path, **kwargs)  # a copy: its state is per call

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    # --- identity and schema ----------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """Who the key belongs to: its name and role."""
        result: dict[str, Any] = self._json("GET", "/me")
        return result

    def openapi(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "/openapi.json")
        return result

    # --- runs -------------------------------------------------------------------------------------

    def list_runs(
        self,
        *,
        statuses: list[str] | None = None,
        model_name: str | None = None,
        experiment_name: str | None = None,
        tags: list[str] | None = None,
        min_ml_score: float | None = None,
        max_ml_score: float | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 200,
        max_items: int = 1000,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first, following the cursor up to `max_items`; returns (runs, more_exist).
        Every filter given must match (the MLScore range is the evaluation's; times need a zone)."""
        params: dict[str, Any] = {"limit": min(limit, max_items)}
        if statuses:
            params["status"] = statuses
        if model_name:
            params["model_name"] = model_name
        if experiment_name:
            params["experiment_name"] = experiment_name
        if tags:
            params["tag"] = tags
        for name, bound in (("min_ml_score", min_ml_score), ("max_ml_score", max_ml_score)):
            if bound is not None:
                params[name] = bound
        for name, moment in (("created_after", created_after), ("created_before", created_before)):
            if moment is not None:
                params[name] = moment.isoformat()
        items: list[dict[str, Any]] = []
        while True:
            page = self._json("GET", "/runs", params=params)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if cursor is None:
                return items, False
            if len(items) >= max_items:
                return items, True
            params["cursor"] = cursor

    def get_run(self, run_id: int) -> dict[str, Any]:
        """The run with its timeline and results."""
        result: dict[str, Any] = self._json("GET", f"/runs/{run_id}")
        return result

    def annotate_run(self, run_id: int, **fields: Any) -> dict[str, Any]:
        """Set a run's `tags` (a list) and/or `note` (None clears it): the fields given replace the
        run's (operator, approver or admin role); returns the run."""
        result: dict[str, Any] = self._json("PATCH", f"/runs/{run_id}", json=fields)
        return result

    def create_run(self, body: dict[str, Any]) -> dict[str, Any]:
        """Launch a run (the body of POST /runs); returns it as created, `pending`."""
        result: dict[str, Any] = self._json("POST", "/runs", json=body)
        return result

    def cancel_run(self, run_id: int, reason: str | None = None) -> dict[str, Any]:
        """Cancel an active run (operator or approver role); returns the run, `cancelled`. A repeat
        answers the same run; a run that ended otherwise is an ApiError 409 naming its status."""
        result: dict[str, Any] = self._json("POST", f"/runs/{run_id}/cancel", json={"reason": reason or None})
        return result

    def claim_run(self, run_id: int, execution_arn: str) -> bool:
        """Claim a pending run for a workflow execution; True when this execution owns the run."""
        result: dict[str, Any] = self._json(
            "POST", f"/runs/{run_id}/claim", json={"execution_arn": execution_arn}
        )
        return bool(result["claimed"])

    def samples(self, run_id: int, limit: int = 2000) -> dict[str, Any]:
        """The evaluation's per-sample rows, the first `limit` of them."""
        result: dict[str, Any] = self._json("GET", f"/runs/{run_id}/samples", params={"limit": limit})
        return result

    # --- approvals --------------------------------------------------------------------------------

    def approval(self, run_id: int) -> dict[str, Any] | None:
        """The run's latest approval request, None when it has none."""
        try:
            result: dict[str, Any] = self._json("GET", f"/runs/{run_id}/approval")
        except ApiError as exc:
            if exc.status_code == 404:
                return None
            raise
        return result

    def approve(self, run_id: int, comment: str | None = None) -> dict[str, Any]:
        """Approve the run's pending approval (approver role); the API records it as via `api`."""
        body = {"comment": comment or None}
        result: dict[str, Any] = self._json("POST", f"/runs/{run_id}/approve", json=body)
        return result

    def reject(self, run_id: int, comment: str) -> dict[str, Any]:
        """Reject the run's pending approval; a comment is required."""
        body = {"comment": comment}
        result: dict[str, Any] = self._json("POST", f"/runs/{run_id}/reject", json=body)
        return result

    def audit(self, run_id: int) -> list[dict[str, Any]]:
        """The run's approval audit trail, oldest first."""
        result: list[dict[str, Any]] = self._json("GET", f"/runs/{run_id}/audit")
        return result

    # --- datasets ---------------------------------------------------------------------------------

    def list_datasets(self, kind: str | None = None) -> list[dict[str, Any]]:
        params = {"kind": kind} if kind else {}
        result: list[dict[str, Any]] = self._json("GET", "/datasets", params=params)["items"]
        return result

    def upload_dataset(
        self, name: str, kind: str, filename: str, content: bytes, *, timeout: float = 600.0
    ) -> dict[str, Any]:
        """Upload a JSONL dataset; a refused file raises `ApiError` with its `line_errors`."""
        result: dict[str, Any] = self._json(
            "POST",
            "/datasets",
            data={"name": name, "kind": kind},
            files={"file": (filename, content, "application/x-ndjson")},
            timeout=timeout,
        )
        return result

    # --- model registry ---------------------------------------------------------------------------

    def list_models(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", "/models")["items"]
        return result

    def model_versions(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"/models/{name}/versions")
        return result

    # --- deployments ------------------------------------------------------------------------------

    def deployments(self, model_name: str, limit: int = 50) -> dict[str, Any]:
        """A model's deployments: `items` newest first, `serving` the one in service (or None)."""
        result: dict[str, Any] = self._json(
            "GET", f"/models/{model_name}/deployments", params={"limit": limit}
        )
        return result

    def deploy(
        self, model_name: str, version: int | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """Deploy an approved package version (operator or admin role): the newest approved one, or
        `version` (an earlier one rolls the model back). Returns the deployment, `deploying`; a
        version that is not Approved is an ApiError 409."""
        body: dict[str, Any] = {"model_name": model_name}
        if version is not None:
            body["version"] = version
        if reason:
            body["reason"] = reason
        result: dict[str, Any] = self._json("POST", "/deployments", json=body)
        return result

    def retire_deployment(self, deployment_id: int) -> dict[str, Any]:
        """Retire a deployment in service (operator or admin role); returns it, `retired`."""
        result: dict[str, Any] = self._json("DELETE", f"/deployments/{deployment_id}")
        return result

    def invoke_deployment(
        self,
        deployment_id: int,
        question: str,
        *,
        contexts: list[str] | None = None,
        max_new_tokens: int = 64,
        timeout: float = 90.0,
    ) -> dict[str, Any]:
        """Ask a deployment in service one question ("try it"); returns `answer` and `latency_ms`
        (measured by the API around the endpoint's call). The endpoint may take up to a minute:
        `timeout` is this call's own."""
        body = {"question": question, "contexts": list(contexts or []), "max_new_tokens": max_new_tokens}
        result: dict[str, Any] = self._json(
            "POST", f"/deployments/{deployment_id}/invoke", json=body, timeout=timeout
        )
        return result


class AsyncApiClient:
    """`ApiClient`'s transport for asyncio code (the SDK's `AsyncClient`): the same headers, retry
    policy and `ApiError`s, over `httpx.AsyncClient`. Only the general `request`: the SDK's
    resources build the endpoints on it."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        attempts: int = 5,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {**(headers or {}), **({"X-API-Key": api_key} if api_key else {})}
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )
        self._attempts = attempts

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncApiClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """As `ApiClient.request`."""
        retrying = AsyncRetrying(**_retry_policy(self._attempts))
        response: httpx.Response = await retrying(self._send, method, path, **kwargs)
        return response

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response
