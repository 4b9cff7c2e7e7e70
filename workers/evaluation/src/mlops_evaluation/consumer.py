"""The long-running entrypoint: polls the evaluation queue and runs each task through the same code
path as the Lambda handler, for evaluations longer than Lambda's 15 minutes (Fargate in production).
While a task runs its message stays invisible (the visibility timeout is extended); it is deleted
once the task token is answered, and left for redelivery (then the DLQ) otherwise."""

from __future__ import annotations

import logging
import threading
from typing import Any

from mlops_contracts.aws import aws_client
from mlops_evaluation.handler import process_message
from mlops_evaluation.logs import configure_logging
from mlops_evaluation.settings import EvaluationSettings

log = logging.getLogger(__name__)


class _KeepInvisible:
    def __init__(self, queue_url: str, receipt: str, visibility: int) -> None:
        self.queue_url = queue_url
        self.receipt = receipt
        self.visibility = visibility
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility", daemon=True)

    def __enter__(self) -> _KeepInvisible:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(max(1.0, self.visibility / 2)):
            try:
                aws_client("sqs").change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=self.receipt, VisibilityTimeout=self.visibility
                )
            except Exception as exc:
                log.warning("cannot extend the message's visibility: %s", exc)


def consume(
    queue_url: str,
    settings: EvaluationSettings | None = None,
    *,
    once: bool = False,
    max_messages: int | None = None,
    wait_seconds: int = 20,
    visibility_seconds: int = 900,
    stop: threading.Event | None = None,
) -> int:
    """Process messages until stopped (or, with `once`, until the queue is empty). Returns how many
    messages were processed successfully."""
    configure_logging()
    sqs: Any = aws_client("sqs", read_timeout=wait_seconds + 10)
    processed = 0
    while stop is None or not stop.is_set():
        if max_messages is not None and processed >= max_messages:
            break
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_seconds,
        ).get("Messages", [])
        if not messages:
            if once:
                break
            continue
        message = messages[0]
        try:
            with _KeepInvisible(queue_url, message["ReceiptHandle"], visibility_seconds):
                result = process_message(message["Body"], settings)
        except Exception:
            log.exception("message %s failed; left for redelivery", message.get("MessageId"))
            continue
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        processed += 1
        log.info("message %s done: %s", message.get("MessageId"), result)
    return processed
