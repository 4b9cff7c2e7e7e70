"""Answering the release workflow's WaitForHumanApproval task token: the protocol is
`mlops_contracts.task_tokens`; here it runs off the event loop and its failures become the API's."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlops_contracts.aws import aws_client
from mlops_contracts.task_tokens import TaskToken, TokenDead

log = logging.getLogger(__name__)

# The approvals service's name for a dead token: the decision came too late and is recorded as such.
NoLongerWaiting = TokenDead


class WorkflowUnavailable(Exception):
    pass


class TaskAnswerer:
    def __init__(self, region: str) -> None:
        self._region = region

    async def succeed(self, task_token: str, output: dict[str, Any]) -> None:
        """SendTaskSuccess with the decision. Raises NoLongerWaiting or WorkflowUnavailable."""
        await asyncio.to_thread(self._send, task_token, output)

    def _send(self, task_token: str, output: dict[str, Any]) -> None:
        client = aws_client("stepfunctions", region=self._region, max_attempts=3)
        try:
            TaskToken(task_token, client=client).succeed(output)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            log.warning("Step Functions refused SendTaskSuccess: %s", code)
            raise WorkflowUnavailable(f"Step Functions refused the decision ({code})") from exc
        except BotoCoreError as exc:
            log.warning("Step Functions unreachable: %s", type(exc).__name__)
            raise WorkflowUnavailable(f"Step Functions is unreachable ({type(exc).__name__})") from exc
