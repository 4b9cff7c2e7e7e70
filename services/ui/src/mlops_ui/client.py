"""The dashboard's only way out: an HTTP client of the platform API (API key in `X-API-Key`).

Every failure becomes an `ApiError` whose `message` a person can read: the API's own `detail`
(a string, a list of field errors, or a dataset's per-line report), never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

# Field paths the API reports (`loc` without "body"/"query"/...) that the launch form shows inline.
_LOCATIONS = frozenset({"body", "query", "path", "header", "form", "file"})


@dataclass
class LineError:
    line: int
    error: str


@dataclass
class ApiError(Exception):
    """A request that did not succeed. `status` is 0 when the API could not be reached."""

    status: int
    message: str
    field_errors: dict[str, str] = field(default_factory=dict)
    line_errors: list[LineError] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message

    @property
    def unreachable(self) -> bool:
        return self.status == 0


def _field_name(loc: list[Any]) -> str:
    parts = [str(p) for p in loc if str(p) not in _LOCATIONS]
    return ".".join(parts)


def _clean(msg: str) -> str:
    # pydantic prefixes a validator's own text with "Value error, "; a person does not need it.
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def error_from_response(response: httpx.Response) -> ApiError:
    status = response.status_code
    try:
        detail: Any = response.json().get("detail")
    except ValueError:
        detail = None
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
        return ApiError(status, summary or "the request was not valid", fields)
    if isinstance(detail, dict):  # a dataset upload's report: {message, errors: [{line, error}]}
        lines = [
            LineError(int(e.get("line", 0)), str(e.get("error", "")))
            for e in detail.get("errors", [])
            if isinstance(e, dict)
        ]
        return ApiError(status, str(detail.get("message") or "the request was not valid"), {}, lines)
    if isinstance(detail, str) and detail:
        return ApiError(status, detail)
    reason = response.reason_phrase or "error"
    if status >= 500:
        return ApiError(status, f"the API failed ({status} {reason}); try again in a moment")
    return ApiError(status, f"the API answered {status} {reason}")


class ApiClient:
    """A thin typed layer over the API's endpoints; methods return the decoded JSON."""

    def __init__(
        self, base_url: str, api_key: str | None = None, *, timeout: float = 15.0, transport: Any = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ApiError(0, f"the API at {self.base_url} did not answer in time") from exc
        except httpx.TransportError as exc:
            raise ApiError(0, f"cannot reach the API at {self.base_url} ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        if not response.content:
            return None
        return response.json()

    # --- identity and schema ----------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/me")
        return result

    def openapi(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/openapi.json")
        return result

    # --- runs -------------------------------------------------------------------------------------

    def list_runs(
        self,
        *,
        statuses: list[str] | None = None,
        model_name: str | None = None,
        experiment_name: str | None = None,
        limit: int = 200,
        max_items: int = 1000,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first, following the cursor up to `max_items`; returns (runs, more_exist)."""
        params: dict[str, Any] = {"limit": min(limit, max_items)}
        if statuses:
            params["status"] = statuses
        if model_name:
            params["model_name"] = model_name
        if experiment_name:
            params["experiment_name"] = experiment_name
        items: list[dict[str, Any]] = []
        while True:
            page = self.request("GET", "/runs", params=params)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if cursor is None:
                return items, False
            if len(items) >= max_items:
                return items, True
            params["cursor"] = cursor

    def get_run(self, run_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/runs/{run_id}")
        return result

    def create_run(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", "/runs", json=body)
        return result

    def samples(self, run_id: int, limit: int = 2000) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/runs/{run_id}/samples", params={"limit": limit})
        return result

    # --- approvals --------------------------------------------------------------------------------

    def approval(self, run_id: int) -> dict[str, Any] | None:
        """The run's latest approval request, None when it has none."""
        try:
            result: dict[str, Any] = self.request("GET", f"/runs/{run_id}/approval")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def approve(self, run_id: int, comment: str | None) -> dict[str, Any]:
        body = {"comment": comment or None, "via": "dashboard"}
        result: dict[str, Any] = self.request("POST", f"/runs/{run_id}/approve", json=body)
        return result

    def reject(self, run_id: int, comment: str) -> dict[str, Any]:
        body = {"comment": comment, "via": "dashboard"}
        result: dict[str, Any] = self.request("POST", f"/runs/{run_id}/reject", json=body)
        return result

    def audit(self, run_id: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", f"/runs/{run_id}/audit")
        return result

    # --- datasets ---------------------------------------------------------------------------------

    def list_datasets(self, kind: str | None = None) -> list[dict[str, Any]]:
        params = {"kind": kind} if kind else {}
        result: list[dict[str, Any]] = self.request("GET", "/datasets", params=params)["items"]
        return result

    def upload_dataset(
        self, name: str, kind: str, filename: str, content: bytes, *, timeout: float = 600.0
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.request(
            "POST",
            "/datasets",
            data={"name": name, "kind": kind},
            files={"file": (filename, content, "application/x-ndjson")},
            timeout=timeout,
        )
        return result

    # --- model registry ---------------------------------------------------------------------------

    def list_models(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/models")["items"]
        return result

    def model_versions(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/models/{name}/versions")
        return result
