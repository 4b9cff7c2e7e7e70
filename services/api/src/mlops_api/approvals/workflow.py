"""Answering the release workflow's WaitForHumanApproval task token."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlops_contracts.aws import aws_client

log = logging.getLogger(__name__)

# Step Functions' answers meaning "nobody waits for this token any more": the task timed out, the
# execution ended (moto says InvalidToken for a token of an ended execution) or never existed.
NO_LONGER_WAITING = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


class NoLongerWaiting(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class WorkflowUnavailable(Exception):
    pass


class TaskAnswerer:
    def __init__(self, region: str) -> None:
        self._region = region

    async def succeed(self, task_token: str, output: dict[str, Any]) -> None:
        """SendTaskSuccess with the decision. Raises NoLongerWaiting or WorkflowUnavailable."""
        await asyncio.to_thread(self._send, task_token, json.dumps(output))

    def _send(self, task_token: str, output: str) -> None:
        client = aws_client("stepfunctions", region=self._region, max_attempts=3)
        try:
            client.send_task_success(taskToken=task_token, output=output)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in NO_LONGER_WAITING:
                raise NoLongerWaiting(code) from exc
            log.warning("Step Functions refused SendTaskSuccess: %s", code)
            raise WorkflowUnavailable(f"Step Functions refused the decision ({code})") from exc
        except BotoCoreError as exc:
            log.warning("Step Functions unreachable: %s", type(exc).__name__)
            raise WorkflowUnavailable(f"Step Functions is unreachable ({type(exc).__name__})") from exc
