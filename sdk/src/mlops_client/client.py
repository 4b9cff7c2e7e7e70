"""The synchronous SDK: `Client` and its resources (runs, datasets, approvals, models).

Built on the platform's one HTTP client, `mlops_contracts.api_client.ApiClient`
(docs/decisions/0016-sdk-on-the-one-api-client.md): its key header, retries with backoff
(tenacity) on no answer, 5xx and 429, and its `ApiError`s are the SDK's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from mlops_client import _endpoints as ep
from mlops_client.errors import ApiError, ConfigurationError, DatasetInvalid, WaitTimeout
from mlops_client.models import Approval, Dataset, ModelGroup, Run, RunDetail
from mlops_contracts.api_client import ApiClient

URL_VARIABLES = ("MLOPS_API_URL", "API_URL")
KEY_VARIABLES = ("MLOPS_API_KEY", "API_KEY")


def settings_from_env() -> tuple[str, str]:
    """(url, key) from MLOPS_API_URL / MLOPS_API_KEY (API_URL / API_KEY also accepted)."""
    url = next((os.environ[v] for v in URL_VARIABLES if os.environ.get(v)), None)
    key = next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), None)
    missing = [names[0] for names, value in ((URL_VARIABLES, url), (KEY_VARIABLES, key)) if not value]
    if missing:
        raise ConfigurationError(f"set {' and '.join(missing)} (the platform API's URL and an API key)")
    assert url
    assert key
    return url, key


class Client:
    """A client of the platform API.

    >>> client = Client.from_env()
    >>> run = client.runs.launch(model_name="rag-qa", model_id="mistralai/Mistral-7B-v0.1",
    ...                          experiment_name="nightly", eval_dataset_id=2, train_dataset_id=1)
    >>> client.runs.wait(run.id, timeout=3600)
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        attempts: int = 5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api = ApiClient(base_url, api_key, timeout=timeout, attempts=attempts, transport=transport)
        self.runs = Runs(self)
        self.datasets = Datasets(self)
        self.approvals = Approvals(self)
        self.models = Models(self)

    @classmethod
    def from_env(cls, **options: Any) -> Client:
        url, key = settings_from_env()
        return cls(url, key, **options)

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _call(self, call: ep.Call) -> Any:
        response = self.api.request(call.method, call.path, **call.kwargs)
        return response.json() if response.content else None


class _Resource:
    def __init__(self, client: Client) -> None:
        self._client = client

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._client._call(ep.Call(method, path, kwargs))


class Runs(_Resource):
    def launch(self, request: Any = None, /, *, idempotency_key: str | None = None, **fields: Any) -> Run:
        """Launch a run: a `FinetuneLaunch` / `EvalOnlyLaunch`, or their fields as keywords.
        Retries are safe: every try carries the same Idempotency-Key."""
        return Run.model_validate(self._client._call(ep.launch(request, fields, idempotency_key)))

    def get(self, run_id: int) -> RunDetail:
        return RunDetail.model_validate(self._json("GET", f"/runs/{run_id}"))

    def list(
        self,
        *,
        status: str | list[str] | None = None,
        model_name: str | None = None,
        experiment_name: str | None = None,
        page_size: int = 50,
        limit: int | None = None,
    ) -> Iterator[Run]:
        """Runs newest first, page after page (the API's keyset cursor), `limit` at most."""
        params = ep.list_params(status, model_name, experiment_name, page_size)
        seen = 0
        while True:
            page = self._json("GET", "/runs", params=params)
            for item in page["items"]:
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield Run.model_validate(item)
            if page.get("next_cursor") is None:
                return
            params["cursor"] = page["next_cursor"]

    def wait(
        self,
        run_id: int,
        timeout: float = 3600.0,
        *,
        poll_interval: float = 2.0,
        wait_for_decision: bool = False,
    ) -> RunDetail:
        """Poll the run until it needs a person (awaiting approval) or is approved; with
        `wait_for_decision`, until approved. Raises RunFailed (failed, cancelled), RunRejected,
        or WaitTimeout after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(run_id)
            if ep.settled(run, wait_for_decision):
                return run
            if time.monotonic() >= deadline:
                raise WaitTimeout(run, timeout)
            time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))

    def cancel(self, run_id: int, reason: str | None = None) -> Run:
        return Run.model_validate(self._json("POST", f"/runs/{run_id}/cancel", json={"reason": reason}))

    def samples(self, run_id: int, limit: int = 2000) -> Any:
        """The evaluation's per-sample rows: a pandas DataFrame when pandas is installed."""
        page = self._json("GET", f"/runs/{run_id}/samples", params={"limit": limit})
        return ep.samples_frame(page["items"])


class Datasets(_Resource):
    def upload(self, path: str | Path, *, kind: str = "eval", name: str | None = None) -> Dataset:
        """Upload a JSONL file (named after the file unless `name`). A refused file raises
        DatasetInvalid, which lists the bad lines."""
        try:
            return Dataset.model_validate(self._client._call(ep.upload(path, name, kind)))
        except ApiError as exc:
            if exc.line_errors:
                raise DatasetInvalid(exc, str(path)) from None
            raise

    def list(self, kind: str | None = None) -> list[Dataset]:
        page = self._json("GET", "/datasets", params={"kind": kind} if kind else {})
        return [Dataset.model_validate(item) for item in page["items"]]


class Approvals(_Resource):
    def get(self, run_id: int) -> Approval:
        return Approval.model_validate(self._json("GET", f"/runs/{run_id}/approval"))

    def approve(self, run_id: int, comment: str | None = None) -> Approval:
        return Approval.model_validate(
            self._json("POST", f"/runs/{run_id}/approve", json={"comment": comment})
        )

    def reject(self, run_id: int, comment: str) -> Approval:
        return Approval.model_validate(
            self._json("POST", f"/runs/{run_id}/reject", json={"comment": comment})
        )


class Models(_Resource):
    def list(self) -> list[ModelGroup]:
        return [ModelGroup.model_validate(item) for item in self._json("GET", "/models")["items"]]
