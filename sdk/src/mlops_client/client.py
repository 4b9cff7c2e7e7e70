"""The synchronous SDK: `Client` and its resources (runs, datasets, approvals, models, deployments).

Built on the platform's one HTTP client, `mlops_contracts.api_client.ApiClient`
(docs/decisions/0016-sdk-on-the-one-api-client.md): its key header, retries with backoff
(tenacity) on no answer, 5xx and 429, and its `ApiError`s are the SDK's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from mlops_client import _endpoints as ep
from mlops_client.credentials import SESSION_VARIABLE, Credentials, credentials_from_env
from mlops_client.errors import ApiError, DatasetInvalid, DeploymentWaitTimeout, WaitTimeout
from mlops_client.models import (
    Approval,
    Dataset,
    Deployment,
    DeploymentList,
    Invocation,
    ModelGroup,
    Run,
    RunDetail,
)
from mlops_contracts.api_client import ApiClient


def settings_from_env() -> Credentials:
    """The API's URL and who calls it, from the environment (mlops_client.credentials)."""
    return credentials_from_env()


def signed_in_refusal(error: ApiError) -> ApiError:
    """A refused session says what to do about it (the load balancer's session expires)."""
    if error.status_code != 401:
        return error
    return ApiError(
        401,
        f"{error.message} - the signed-in session was refused: sign in again in the browser and copy "
        f"its session cookie into {SESSION_VARIABLE} anew",
        detail=error.detail,
    )


def redirected(response: httpx.Response) -> ApiError:
    """An answer that sends the caller to sign in (a load balancer rule that redirects to the
    identity provider) is no API answer: a script cannot follow it."""
    return ApiError(
        401,
        f"{response.request.method} {response.request.url.path} was redirected to sign in "
        f"({response.headers.get('location', '')[:80]}): set {SESSION_VARIABLE} to a live session "
        "cookie, or use an API key",
    )


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
        api_key: str | None = None,
        *,
        session_cookie: str | None = None,
        timeout: float = 30.0,
        attempts: int = 5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        credentials = Credentials(base_url, api_key, session_cookie)
        self.signed_in = session_cookie is not None
        self.api = ApiClient(
            base_url,
            api_key,
            timeout=timeout,
            attempts=attempts,
            transport=transport,
            headers=credentials.headers(),
        )
        self.runs = Runs(self)
        self.datasets = Datasets(self)
        self.approvals = Approvals(self)
        self.models = Models(self)
        self.deployments = Deployments(self)

    @classmethod
    def from_env(cls, **options: Any) -> Client:
        """MLOPS_API_URL and MLOPS_API_KEY, or MLOPS_SESSION_COOKIE to call as the signed-in person."""
        found = settings_from_env()
        return cls(found.url, found.api_key, session_cookie=found.session_cookie, **options)

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _call(self, call: ep.Call) -> Any:
        try:
            response = self.api.request(call.method, call.path, **call.kwargs)
        except ApiError as exc:
            if self.signed_in:
                raise signed_in_refusal(exc) from exc
            raise
        if response.is_redirect:
            raise redirected(response)
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


class Deployments(_Resource):
    """Which approved package version serves each model (docs/decisions/0021-deployments.md):
    deploy (an earlier version is the rollback), follow, retire, try. The API answers a request it
    refuses (not Approved, still deploying, not in service) with 409: `DeploymentConflict`."""

    def _send(self, call: ep.Call) -> Any:
        try:
            return self._client._call(call)
        except ApiError as exc:
            error = ep.deployment_error(exc)
            if error is exc:
                raise
            raise error from None

    def list(self, model_name: str, *, limit: int = 50) -> DeploymentList:
        """The model's deployments newest first (`items`) and the one in service (`serving`)."""
        return DeploymentList.model_validate(self._send(ep.deployments_of(model_name, limit)))

    def get(self, deployment_id: int) -> Deployment:
        return Deployment.model_validate(self._send(ep.Call("GET", f"/deployments/{deployment_id}", {})))

    def deploy(
        self,
        model_name: str,
        version: int | None = None,
        *,
        reason: str | None = None,
        wait: bool = False,
        timeout: float = 3600.0,
        poll_interval: float = 2.0,
    ) -> Deployment:
        """Deploy the model's newest approved version, or `version` (an earlier one rolls the
        model back); operator or admin role. Returns the `deploying` deployment, or with `wait`,
        the deployment once in service (as `wait`). Raises DeploymentConflict when the registry
        does not hold the version as Approved or another deployment is still deploying."""
        deployment = Deployment.model_validate(self._send(ep.deploy(model_name, version, reason)))
        if not wait:
            return deployment
        return self.wait(deployment.id, timeout, poll_interval=poll_interval)

    def wait(self, deployment_id: int, timeout: float = 3600.0, *, poll_interval: float = 2.0) -> Deployment:
        """Poll the deployment until it is in service. Raises DeploymentFailed (failed, rolled
        back, retired) or DeploymentWaitTimeout after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            deployment = self.get(deployment_id)
            if ep.in_service(deployment):
                return deployment
            if time.monotonic() >= deadline:
                raise DeploymentWaitTimeout(deployment, timeout)
            time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))

    def retire(self, deployment_id: int) -> Deployment:
        """Retire a deployment in service (idempotent: a retired one is returned as it is)."""
        return Deployment.model_validate(self._send(ep.Call("DELETE", f"/deployments/{deployment_id}", {})))

    def invoke(
        self,
        deployment_id: int,
        question: str,
        *,
        contexts: Sequence[str] | None = None,
        max_new_tokens: int | None = None,
        timeout: float = ep.INVOKE_TIMEOUT,
    ) -> Invocation:
        """Ask a deployment in service one question; the answer and the latency the API measured.
        An endpoint that fails is an ApiError 503 (retried as any 5xx)."""
        call = ep.invoke(deployment_id, question, contexts, max_new_tokens, timeout)
        return Invocation.model_validate(self._send(call))
