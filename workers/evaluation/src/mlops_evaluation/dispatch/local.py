"""EVALUATION_BACKEND=local: the evaluation image's job entrypoint (`python -m mlops_evaluation job`,
what the SageMaker Processing job runs) as a subprocess, in a SageMaker-style folder: the task at
`<root>/input/task/task.json`, the outcome at `<root>/output/outcome.json`, the exit message at
`<root>/output/message` (as TRAINING_BACKEND=local does for training).

The job heartbeats and answers the task token itself; this dispatcher heartbeats too while the
job starts (imports, model download) and stops the job when the workflow no longer waits. When it exits without answering (a crash, an
out-of-memory kill, the time limit), this dispatcher fails the task with the job's exit message or
the end of its log - once: a token already answered or closed is left alone.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlops_contracts.task_tokens import TaskToken, TokenDead
from mlops_evaluation.job import outcome_path, task_path
from mlops_evaluation.messages import EvaluationTask
from mlops_evaluation.settings import EvaluationSettings
from mlops_evaluation.worker import TaskResult

log = logging.getLogger(__name__)

DEFAULT_ENTRYPOINT = [sys.executable, "-m", "mlops_evaluation", "job"]
LOG_TAIL_CHARS = 2000
STOP_GRACE_SECONDS = 10.0


def job_command(settings: EvaluationSettings, root: Path) -> list[str]:
    base = shlex.split(settings.job_entrypoint) if settings.job_entrypoint else list(DEFAULT_ENTRYPOINT)
    return [*base, "--root", str(root), "--message-file", str(root / "output" / "message")]


def prepare_root(task: EvaluationTask, root: Path) -> None:
    path = task_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(task.model_dump_json())
    (root / "output").mkdir(parents=True, exist_ok=True)


def _failure_reason(root: Path, returncode: int | None, log_file: Path) -> str:
    message = root / "output" / "message"
    if message.exists() and message.read_text(errors="replace").strip():
        return message.read_text(errors="replace").strip()
    tail = log_file.read_text(errors="replace")[-LOG_TAIL_CHARS:] if log_file.exists() else ""
    return f"the evaluation job exited with code {returncode}: {tail}"


def dispatch_local(task: EvaluationTask, settings: EvaluationSettings) -> TaskResult:
    """Run the job and wait for it; fail the task when the job could not answer it."""
    token = TaskToken(task.task_token)
    try:
        token.heartbeat()
    except TokenDead as exc:
        log.warning("skipping run %d: %s", task.run_id, exc)
        return "token_closed"
    with tempfile.TemporaryDirectory(prefix=f"evaluation-run-{task.run_id}-") as tmp:
        root = Path(tmp)
        prepare_root(task, root)
        command = job_command(settings, root)
        log.info("run %s: evaluating with %s", task.run_id, shlex.join(command))
        log_file = root / "output" / "evaluation.log"
        started = time.monotonic()
        with open(log_file, "wb") as out:
            # the job publishes its own results: it keeps the evaluator's key (unlike training's)
            process = subprocess.Popen(command, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
            timed_out = stopped = False
            next_beat = started + settings.heartbeat_seconds
            while process.poll() is None:
                now = time.monotonic()
                if now - started > settings.job_timeout_seconds:
                    timed_out = True
                elif now >= next_beat:
                    next_beat = now + settings.heartbeat_seconds
                    stopped = not _beat(token, task.run_id)
                if timed_out or stopped:
                    _stop(process, grace=0.0 if timed_out else STOP_GRACE_SECONDS)
                    break
                time.sleep(0.2)
        sys.stderr.write(log_file.read_text(errors="replace"))  # the job's log in the worker's
        done = outcome_path(root)
        if not timed_out and process.returncode == 0 and done.exists():
            return _result(done)  # the job answered (the token closes with its answer)
        if stopped:
            return "token_closed"
        reason = (
            f"the evaluation job exceeded its {settings.job_timeout_seconds:.0f}s limit"
            if timed_out
            else _failure_reason(root, process.returncode, log_file)
        )
    log.warning("run %s: evaluation job failed: %s", task.run_id, reason)
    try:
        token.fail("Evaluation.JobFailed", reason)
    except TokenDead as exc:  # the job answered before it died, or the workflow stopped waiting
        log.info("run %s: %s; nothing to answer", task.run_id, exc)
        return "token_closed"
    return "failed"


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """A job whose token just closed may be answering it: it gets `grace` seconds to exit."""
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _beat(token: TaskToken, run_id: int) -> bool:
    """False when the workflow no longer waits (answered, timed out or stopped)."""
    try:
        token.heartbeat()
    except TokenDead as exc:
        log.warning("run %d: %s: stopping the evaluation job", run_id, exc)
        return False
    return True


def _result(done: Path) -> TaskResult:
    result = json.loads(done.read_text()).get("result")
    return result if result in ("passed", "below_threshold", "failed", "token_closed") else "failed"
