"""The asynchronous SDK: `AsyncClient`, the same resources as `Client` with `await`, over
`mlops_contracts.api_client.AsyncApiClient` (the same retries and errors, on httpx.AsyncClient)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from mlops_client import _endpoints as ep
from mlops_client.client import redirected, settings_from_env, signed_in_refusal
from mlops_client.credentials import Credentials
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
from mlops_contracts.api_client import AsyncApiClient


class AsyncClient:
    """`async with AsyncClient.from_env() as client: run = await client.runs.launch(...)`"""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        session_cookie: str | None = None,
        timeout: float = 30.0,
        attempts: int = 5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        credentials = Credentials(base_url, api_key, session_cookie)
        self.signed_in = session_cookie is not None
        self.api = AsyncApiClient(
            base_url,
            api_key,
            timeout=timeout,
            attempts=attempts,
            transport=transport,
            headers=credentials.headers(),
        )
        self.runs = AsyncRuns(self)
        self.datasets = AsyncDatasets(self)
        self.approvals = AsyncApprovals(self)
        self.models = AsyncModels(self)
        self.deployments = AsyncDeployments(self)

    @classmethod
    def from_env(cls, **options: Any) -> AsyncClient:
        """As `Client.from_env`."""
        found = settings_from_env()
        return cls(found.url, found.api_key, session_cookie=found.session_cookie, **options)

    async def aclose(self) -> None:
        await self.api.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _call(self, call: ep.Call) -> Any:
        try:
            response = await self.api.request(call.method, call.path, **call.kwargs)
        except ApiError as exc:
            if self.signed_in:
                raise signed_in_refusal(exc) from exc
            raise
        if response.is_redirect:
            raise redirected(response)
        return response.json() if response.content else None


class _Resource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self._client._call(ep.Call(method, path, kwargs))


class AsyncRuns(_Resource):
    async def launch(
        self, request: Any = None, /, *, idempotency_key: str | None = None, **fields: Any
    ) -> Run:
        return Run.model_validate(await self._client._call(ep.launch(request, fields, idempotency_key)))

    async def get(self, run_id: int) -> RunDetail:
        return RunDetail.model_validate(await self._json("GET", f"/runs/{run_id}"))

    async def list(
        self,
        *,
        status: str | list[str] | None = None,
        model_name: str | None = None,
        experiment_name: str | None = None,
        page_size: int = 50,
        limit: int | None = None,
    ) -> AsyncIterator[Run]:
        params = ep.list_params(status, model_name, experiment_name, page_size)
        seen = 0
        while True:
            page = await self._json("GET", "/runs", params=params)
            for item in page["items"]:
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield Run.model_validate(item)
            if page.get("next_cursor") is None:
                return
            params["cursor"] = page["next_cursor"]

    async def wait(
        self,
        run_id: int,
        timeout: float = 3600.0,  # noqa: ASYNC109 - the sync client's signature; the deadline covers the polls
        *,
        poll_interval: float = 2.0,
        wait_for_decision: bool = False,
    ) -> RunDetail:
        deadline = time.monotonic() + timeout
        while True:
            run = await self.get(run_id)
            if ep.settled(run, wait_for_decision):
                return run
            if time.monotonic() >= deadline:
                raise WaitTimeout(run, timeout)
            await asyncio.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))

    async def cancel(self, run_id: int, reason: str | None = None) -> Run:
        return Run.model_validate(await self._json("POST", f"/runs/{run_id}/cancel", json={"reason": reason}))

    async def samples(self, run_id: int, limit: int = 2000) -> Any:
        page = await self._json("GET", f"/runs/{run_id}/samples", params={"limit": limit})
        return ep.samples_frame(page["items"])


class AsyncDatasets(_Resource):
    async def upload(self, path: str | Path, *, kind: str = "eval", name: str | None = None) -> Dataset:
        try:
            return Dataset.model_validate(await self._client._call(ep.upload(path, name, kind)))
        except ApiError as exc:
            if exc.line_errors:
                raise DatasetInvalid(exc, str(path)) from None
            raise

    async def list(self, kind: str | None = None) -> list[Dataset]:
        page = await self._json("GET", "/datasets", params={"kind": kind} if kind else {})
        return [Dataset.model_validate(item) for item in page["items"]]


class AsyncApprovals(_Resource):
    async def get(self, run_id: int) -> Approval:
        return Approval.model_validate(await self._json("GET", f"/runs/{run_id}/approval"))

    async def approve(self, run_id: int, comment: str | None = None) -> Approval:
        body = {"comment": comment}
        return Approval.model_validate(await self._json("POST", f"/runs/{run_id}/approve", json=body))

    async def reject(self, run_id: int, comment: str) -> Approval:
        body = {"comment": comment}
        return Approval.model_validate(await self._json("POST", f"/runs/{run_id}/reject", json=body))


class AsyncModels(_Resource):
    async def list(self) -> list[ModelGroup]:
        return [ModelGroup.model_validate(i) for i in (await self._json("GET", "/models"))["items"]]


class AsyncDeployments(_Resource):
    """As `Deployments`."""

    async def _send(self, call: ep.Call) -> Any:
        try:
            return await self._client._call(call)
        except ApiError as exc:
            error = ep.deployment_error(exc)
            if error is exc:
                raise
            raise error from None

    async def list(self, model_name: str, *, limit: int = 50) -> DeploymentList:
        return DeploymentList.model_validate(await self._send(ep.deployments_of(model_name, limit)))

    async def get(self, deployment_id: int) -> Deployment:
        return Deployment.model_validate(
            await self._send(ep.Call("GET", f"/deployments/{deployment_id}", {}))
        )

    async def deploy(
        self,
        model_name: str,
        version: int | None = None,
        *,
        reason: str | None = None,
        wait: bool = False,
        timeout: float = 3600.0,  # noqa: ASYNC109 - the sync client's signature; the deadline covers the polls
        poll_interval: float = 2.0,
    ) -> Deployment:
        deployment = Deployment.model_validate(await self._send(ep.deploy(model_name, version, reason)))
        if not wait:
            return deployment
        return await self.wait(deployment.id, timeout, poll_interval=poll_interval)

    async def wait(
        self,
        deployment_id: int,
        timeout: float = 3600.0,  # noqa: ASYNC109 - the sync client's signature; the deadline covers the polls
        *,
        poll_interval: float = 2.0,
    ) -> Deployment:
        deadline = time.monotonic() + timeout
        while True:
            deployment = await self.get(deployment_id)
            if ep.in_service(deployment):
                return deployment
            if time.monotonic() >= deadline:
                raise DeploymentWaitTimeout(deployment, timeout)
            await asyncio.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))

    async def retire(self, deployment_id: int) -> Deployment:
        return Deployment.model_validate(
            await self._send(ep.Call("DELETE", f"/deployments/{deployment_id}", {}))
        )

    async def invoke(
        self,
        deployment_id: int,
        question: str,
        *,
        contexts: Sequence[str] | None = None,
        max_new_tokens: int | None = None,
        timeout: float = ep.INVOKE_TIMEOUT,  # noqa: ASYNC109 - the HTTP call's own timeout
    ) -> Invocation:
        call = ep.invoke(deployment_id, question, contexts, max_new_tokens, timeout)
        return Invocation.model_validate(await self._send(call))
