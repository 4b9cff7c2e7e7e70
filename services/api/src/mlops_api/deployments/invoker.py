"""Forwarding one question to a deployment's endpoint ("try it"): a local serving process by its
URL, or a SageMaker endpoint through sagemaker-runtime InvokeEndpoint. Both answer the serving
container's /invocations contract (services/serving: {"question", "contexts", "max_new_tokens"} ->
{"answer", ...})."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from mlops_api.errors import Unavailable
from mlops_contracts.aws import aws_client

TIMEOUT_SECONDS = 60.0


class EndpointInvoker:
    def __init__(self, region: str) -> None:
        self._region = region

    async def ask(
        self, endpoint_name: str, endpoint_url: str | None, body: dict[str, Any]
    ) -> tuple[str, float]:
        """(answer, latency in ms)."""
        started = time.perf_counter()
        # A SageMaker endpoint's URL is its runtime URL (https://runtime.sagemaker.<region>...): asked
        # through InvokeEndpoint, signed; any other URL is a local serving process.
        if (
            endpoint_url
            and endpoint_url.startswith(("http://", "https://"))
            and ".amazonaws.com/" not in endpoint_url
        ):
            answer = await self._local(endpoint_url, body)
        else:
            answer = await asyncio.to_thread(self._sagemaker, endpoint_name, body)
        return answer, (time.perf_counter() - started) * 1000

    async def _local(self, url: str, body: dict[str, Any]) -> str:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
                response = await client.post(url.rstrip("/") + "/invocations", json=body)
        except httpx.HTTPError as exc:
            raise Unavailable(f"the endpoint did not answer ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise Unavailable(f"the endpoint answered {response.status_code}: {response.text[:500]}")
        return _answer_of(response.content)

    def _sagemaker(self, endpoint_name: str, body: dict[str, Any]) -> str:
        runtime = aws_client("sagemaker-runtime", region=self._region, max_attempts=2)
        try:
            response = runtime.invoke_endpoint(
                EndpointName=endpoint_name,
                ContentType="application/json",
                Accept="application/json",
                Body=json.dumps(body).encode(),
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise Unavailable(
                f"the endpoint refused the question ({error.get('Code')}: {error.get('Message')})"
            ) from exc
        except BotoCoreError as exc:
            raise Unavailable(f"the endpoint is unreachable ({type(exc).__name__})") from exc
        return _answer_of(response["Body"].read())


def _answer_of(raw: bytes) -> str:
    try:
        answer = json.loads(raw)["answer"]
    except (ValueError, KeyError, TypeError) as exc:
        raise Unavailable("the endpoint's answer is not the serving contract's JSON (no 'answer')") from exc
    return str(answer)
