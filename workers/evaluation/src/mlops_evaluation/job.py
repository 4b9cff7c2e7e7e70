"""The evaluation image's job entrypoint, `python -m mlops_evaluation job`: what a SageMaker
Processing job runs on its GPU instance (EVALUATION_BACKEND=sagemaker) and the local backend runs as a
subprocess (EVALUATION_BACKEND=local), in the same directory layout
(docs/decisions/0020-evaluation-as-a-processing-job.md):

    <root>/input/task/task.json      the task, task token included (a ProcessingInput from S3: the
                                     token is in no environment value or argument Describe shows)
    <root>/output/outcome.json       what the job did: {"result": "passed" | "below_threshold" | ...}
    <message file>                   why it failed, when it did (SageMaker's ExitMessage, 1 KB)

`<root>` is /opt/ml/processing and the message file /opt/ml/output/message on SageMaker. The job
runs the one evaluation code path (worker.process_task): it heartbeats the task token while it
works, publishes the results and answers the token. Exit code 0 once the token is answered (or was
closed); 1 when no answer could be sent, which the dispatcher or the job's state-change event turns
into a failure of the task.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pydantic import ValidationError

from mlops_evaluation.messages import InvalidMessage, parse_task
from mlops_evaluation.settings import get_settings

log = logging.getLogger(__name__)

PROCESSING_ROOT = Path("/opt/ml/processing")
MESSAGE_FILE = Path("/opt/ml/output/message")
TASK_CHANNEL = "task"
TASK_FILE = "task.json"
EXIT_MESSAGE_LIMIT = 1024  # DescribeProcessingJob's ExitMessage keeps the first 1 KB


def task_path(root: Path) -> Path:
    return root / "input" / TASK_CHANNEL / TASK_FILE


def outcome_path(root: Path) -> Path:
    return root / "output" / "outcome.json"


def _write_message(message_file: Path, text: str) -> None:
    try:
        message_file.parent.mkdir(parents=True, exist_ok=True)
        message_file.write_bytes(text.encode()[:EXIT_MESSAGE_LIMIT])
    except OSError as exc:  # the reason is in the log either way
        log.warning("cannot write the exit message to %s: %s", message_file, exc)


def run_job(root: Path = PROCESSING_ROOT, message_file: Path = MESSAGE_FILE) -> int:
    """Evaluate the task in `root` and answer its token; the exit code of the job."""
    from mlops_evaluation.handler import answer_failure
    from mlops_evaluation.worker import process_task

    try:
        body = task_path(root).read_text()
    except OSError as exc:
        _write_message(message_file, f"the job has no task: {exc}")
        log.error("the job has no task: %s", exc)
        return 1
    try:
        task = parse_task(body)
    except InvalidMessage as exc:
        _write_message(message_file, exc.reason)
        if exc.task_token is None:
            log.error("unanswerable task (no task token): %s", exc.reason)
            return 1
        return _finish(root, None, answer_failure(exc.task_token, "Evaluation.InvalidMessage", exc.reason))
    try:
        settings = get_settings()
    except ValidationError as exc:
        reason = f"invalid worker settings: {exc}"
        _write_message(message_file, reason)
        return _finish(root, task.run_id, answer_failure(task.task_token, "Evaluation.Misconfigured", reason))
    try:
        result = process_task(task, settings, entrypoint="job")
    except Exception as exc:  # the answer itself could not be sent
        log.exception("run %d: the evaluation could not answer its task", task.run_id)
        _write_message(message_file, f"{type(exc).__name__}: {exc}")
        return 1
    log.info("run %d: %s", task.run_id, result)
    return _finish(root, task.run_id, result)


def _finish(root: Path, run_id: int | None, result: str) -> int:
    out = outcome_path(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"run_id": run_id, "result": result}))
    return 0
