"""The runner: plays Lambda's SQS event-source mapping for each worker.

For each mapping (terraform/lambda_mappings.json, which terraform/envs/prod reads too) it long-polls
the queue, gathers a batch (batch size, batching window), invokes the SAME handler function the
worker's Lambda image runs with Lambda's SQS event (`{"Records": [...]}`) and a context object,
then settles the batch as Lambda does with ReportBatchItemFailures:

- the handler returns no failures: every message is deleted;
- it returns `{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}` (aws-lambda-powertools'
  `process_partial_response`): the others are deleted, the listed ones are left alone;
- it raises, runs past its timeout or returns an invalid response: nothing is deleted.

Messages left alone come back after the queue's visibility timeout and are moved to the DLQ by the
queue's own redrive policy (maxReceiveCount), exactly as on AWS: the runner never re-sends or parks a
message itself. One addition for the long-running deployment (work longer than Lambda's 15 minutes):
a mapping with `extend_visibility` keeps its in-flight messages invisible until the handler returns.

Runs as threads inside `make dev` (`LocalRunner(...).start()` / `.stop()`) and as its own process, which
is what the worker images run (docker-compose.yml, a long-running container):

    python -m mlops_sqs_runtime.runner --env-file .local/stack.env --mapping training
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dotenv import load_dotenv
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlops_contracts.logs import configure_logging, log_context
from mlops_contracts.tracing import configure_tracing
from mlops_sqs_runtime.lambda_sqs import (
    InvalidBatchResponse,
    LocalLambdaContext,
    build_event,
    failed_message_ids,
    function_arn,
)

log = logging.getLogger("mlops_sqs_runtime.runner")

# The platform's mappings: the images set LAMBDA_MAPPINGS_FILE to their copy of the file; a source
# checkout (an editable install: runtime/src/mlops_sqs_runtime/) reads the repository's.
MAPPINGS_FILE_ENV = "LAMBDA_MAPPINGS_FILE"
REPOSITORY_MAPPINGS_FILE = Path(__file__).resolve().parents[3] / "terraform" / "lambda_mappings.json"
SQS_MAX_MESSAGES = 10  # per ReceiveMessage / DeleteMessageBatch call
LAMBDA_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # a batch is cut when its bodies reach this size

Handler = Callable[[dict[str, Any], Any], Any]


class StopEvent(Protocol):
    """threading.Event or multiprocessing's Event."""

    def is_set(self) -> bool: ...

    def set(self) -> None: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class MappingError(RuntimeError):
    """A mapping that cannot run, with a message that says what to do."""


class MappingConfig(BaseModel):
    """One event-source mapping (the `$comment` of terraform/lambda_mappings.json says what each
    field plays)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    handler: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="package.module:function")
    queue_url_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    queue_url: str | None = None
    batch_size: int = Field(default=10, ge=1, le=10_000)
    max_batching_window_seconds: float = Field(default=0, ge=0, le=300)
    concurrency: int = Field(default=1, ge=1, le=1000)
    function_timeout_seconds: float = Field(default=900, gt=0, le=43_200)
    report_batch_item_failures: bool = True
    poll_wait_seconds: int = Field(default=5, ge=0, le=20)
    extend_visibility: bool = False
    enabled: bool = True
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> MappingConfig:
        if not (self.queue_url or self.queue_url_env):
            raise ValueError("give queue_url_env (the environment variable holding the URL) or queue_url")
        if self.batch_size > SQS_MAX_MESSAGES and self.max_batching_window_seconds < 1:
            raise ValueError("a batch_size above 10 needs max_batching_window_seconds >= 1 (as on Lambda)")
        return self

    def resolve_queue_url(self, environ: Mapping[str, str] | None = None) -> str:
        env = os.environ if environ is None else environ
        if self.queue_url:
            return self.queue_url
        assert self.queue_url_env is not None  # the validator guarantees one of them
        url = env.get(self.queue_url_env, "")
        if not url:
            raise MappingError(
                f"mapping '{self.name}': {self.queue_url_env} is not set. It comes from the Terraform "
                "outputs of terraform/envs/local (written to .local/stack.env by `make dev`); "
                "pass --env-file .local/stack.env or set the variable"
            )
        return url


def default_mappings_file(environ: Mapping[str, str] | None = None) -> Path:
    """$LAMBDA_MAPPINGS_FILE, else the repository's terraform/lambda_mappings.json."""
    env = os.environ if environ is None else environ
    return Path(env[MAPPINGS_FILE_ENV]) if env.get(MAPPINGS_FILE_ENV) else REPOSITORY_MAPPINGS_FILE


def load_mappings(path: Path | None = None) -> dict[str, MappingConfig]:
    """The `mappings` object of a JSON file (default: default_mappings_file()); `$comment` keys are
    notes for the reader."""
    path = path or default_mappings_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(
            f"cannot read the mappings file {path}: {exc.strerror or exc} "
            f"(set {MAPPINGS_FILE_ENV} or pass --mappings-file)"
        ) from exc
    except json.JSONDecodeError as exc:
        raise MappingError(f"{path} is not valid JSON: {exc}") from exc
    tables = data.get("mappings") if isinstance(data, dict) else None
    if not isinstance(tables, dict) or not tables:
        raise MappingError(f'{path} has no "mappings" object')
    mappings: dict[str, MappingConfig] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise MappingError(f"{path}: mapping '{name}' is not an object")
        fields = {k: v for k, v in table.items() if k != "$comment"}
        try:
            mappings[name] = MappingConfig.model_validate({"name": name, **fields})
        except ValidationError as exc:
            raise MappingError(f"{path}: mapping '{name}' is invalid:\n{exc}") from exc
    return mappings


def select_mappings(
    mappings: Mapping[str, MappingConfig], names: Sequence[str] | None
) -> list[MappingConfig]:
    """The named mappings (each must exist and be enabled), or every enabled one when `names` is None."""
    if names is None:
        return [m for m in mappings.values() if m.enabled]
    selected = []
    for name in names:
        if name not in mappings:
            raise MappingError(f"no mapping '{name}' (known: {', '.join(sorted(mappings))})")
        if not mappings[name].enabled:
            raise MappingError(f"mapping '{name}' is disabled in the mappings file")
        selected.append(mappings[name])
    return selected


def load_handler(spec: str) -> Handler:
    """`package.module:function` -> the function."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MappingError(f"cannot import the handler module '{module_name}' ({exc})") from exc
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise MappingError(f"'{module_name}' has no callable '{attribute}'")
    return handler  # type: ignore[no-any-return]


@dataclass
class BatchOutcome:
    """What happened to one batch (returned by Poller.poll_once, logged by the runner)."""

    received: list[str]
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class QueueInfo:
    url: str
    arn: str
    visibility_timeout: int
    max_receive_count: int | None
    fifo: bool


def describe_queue(sqs: Any, config: MappingConfig, url: str) -> QueueInfo:
    """The queue's ARN and redrive policy; rejects what Lambda's CreateEventSourceMapping rejects."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn", "VisibilityTimeout", "RedrivePolicy", "FifoQueue"]
        )["Attributes"]
    except (ClientError, BotoCoreError) as exc:
        raise MappingError(
            f"mapping '{config.name}': cannot read the queue {url} ({exc}). Is the emulator up and "
            "terraform/envs/local applied?"
        ) from exc
    redrive = json.loads(attributes.get("RedrivePolicy") or "{}")
    info = QueueInfo(
        url=url,
        arn=attributes["QueueArn"],
        visibility_timeout=int(attributes["VisibilityTimeout"]),
        max_receive_count=int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
        fifo=attributes.get("FifoQueue") == "true",
    )
    if config.function_timeout_seconds > info.visibility_timeout and not config.extend_visibility:
        raise MappingError(
            f"mapping '{config.name}': the function timeout ({config.function_timeout_seconds:g}s) exceeds "
            f"the visibility timeout of {url} ({info.visibility_timeout}s); Lambda refuses this mapping"
        )
    if info.fifo and (config.batch_size > SQS_MAX_MESSAGES or config.max_batching_window_seconds):
        raise MappingError(
            f"mapping '{config.name}': a FIFO queue takes at most 10 messages and no batching window"
        )
    return info


class Poller:
    """One execution environment of a mapping: receive a batch, invoke the handler, settle the batch."""

    def __init__(self, config: MappingConfig, handler: Handler, stop: StopEvent, *, index: int = 0) -> None:
        from botocore.exceptions import NoRegionError

        from mlops_contracts.aws import aws_client

        self.config = config
        self._handler = handler
        self._stop = stop
        self._index = index
        url = config.resolve_queue_url()
        try:
            self._sqs = aws_client("sqs")
        except NoRegionError as exc:
            raise MappingError(
                f"mapping '{config.name}': no AWS region; set AWS_REGION (the emulator's region)"
            ) from exc
        self.queue = describe_queue(self._sqs, config, url)
        self._function_arn = function_arn(config.name, self.queue.arn)
        if self.queue.max_receive_count is None:
            log.warning(
                "mapping %s: %s has no redrive policy, a failing message is retried until it expires",
                config.name,
                self.queue.url,
                extra={"mapping": config.name},
            )

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> None:
        """Poll until the stop event is set. Transient AWS errors back off; nothing ends the loop but
        the stop event."""
        log.info(
            "mapping %s: polling %s (batch %d, window %gs)",
            self.config.name,
            self.queue.url,
            self.config.batch_size,
            self.config.max_batching_window_seconds,
            extra={"mapping": self.config.name, "queue_url": self.queue.url, "environment": self._index},
        )
        backoff = 0.0
        while not self._stop.is_set():
            try:
                self.poll_once()
                backoff = 0.0
            except Exception:
                backoff = min(max(backoff * 2, 0.5), 10.0)
                log.exception(
                    "mapping %s: polling failed, retrying in %.1fs",
                    self.config.name,
                    backoff,
                    extra={"mapping": self.config.name},
                )
                self._stop.wait(backoff)
        log.info("mapping %s: stopped", self.config.name, extra={"mapping": self.config.name})

    def poll_once(self) -> BatchOutcome | None:
        """Receive one batch and handle it; None when the queue gave nothing (or a stop came first)."""
        messages = self._gather()
        if not messages:
            return None
        if self._stop.is_set():
            self._release(messages)
            return None
        return self._invoke(messages)

    # -- receiving ------------------------------------------------------------------------------
    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self.queue.url,
            MaxNumberOfMessages=max(1, min(SQS_MAX_MESSAGES, count)),
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _gather(self) -> list[dict[str, Any]]:
        """A batch as Lambda's poller builds it: up to batch_size messages, waiting up to the batching
        window for more once the first arrived; gathering stops once the bodies reach Lambda's 6 MB."""
        config = self.config
        messages = self._receive(config.batch_size, config.poll_wait_seconds)
        if not messages or config.max_batching_window_seconds <= 0:
            return messages
        deadline = time.monotonic() + config.max_batching_window_seconds
        payload = sum(len(m["Body"].encode()) for m in messages)
        while len(messages) < config.batch_size and payload < LAMBDA_MAX_PAYLOAD_BYTES:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.is_set():
                break
            more = self._receive(config.batch_size - len(messages), min(20, int(remaining)))
            if not more and remaining < 1:
                self._stop.wait(min(remaining, 0.1))
            messages.extend(more)
            payload += sum(len(m["Body"].encode()) for m in more)
        return messages

    def _release(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Messages received after a stop was asked for: made visible again at once (not an AWS
        behaviour - a local convenience so a restart picks them up without waiting)."""
        self._change_visibility(messages, 0)
        log.info(
            "mapping %s: stopping, released %d unprocessed message(s)",
            self.config.name,
            len(messages),
            extra={"mapping": self.config.name, "message_ids": [m["MessageId"] for m in messages]},
        )

    # -- invoking and settling ------------------------------------------------------------------
    def _invoke(self, messages: list[dict[str, Any]]) -> BatchOutcome:
        config = self.config
        ids = [m["MessageId"] for m in messages]
        outcome = BatchOutcome(received=ids)
        event = build_event(messages, queue_arn=self.queue.arn)
        context = LocalLambdaContext(
            function_name=config.name,
            invoked_function_arn=self._function_arn,
            timeout_seconds=config.function_timeout_seconds,
        )
        extra = {"mapping": config.name, "request_id": context.aws_request_id}
        log.info(
            "mapping %s: invoking %s with %d message(s)",
            config.name,
            config.handler,
            len(ids),
            extra={**extra, "message_ids": ids},
        )
        started = time.monotonic()
        failed: set[str]
        try:
            # as in Lambda, the handler's own log lines carry the invocation's request id
            with (
                self._kept_invisible(messages),
                log_context(mapping=config.name, request_id=context.aws_request_id),
            ):
                response = self._handler(event, context)
        except Exception as exc:
            failed = set(ids)
            outcome.error = f"{type(exc).__name__}: {exc}"
            log.exception(
                "mapping %s: the handler raised, the whole batch comes back after the visibility timeout",
                config.name,
                extra={**extra, "message_ids": ids},
            )
        else:
            elapsed = time.monotonic() - started
            if elapsed > config.function_timeout_seconds:
                failed = set(ids)
                outcome.error = f"Task timed out after {elapsed:.2f} seconds"
                log.error(
                    "mapping %s: %s, the whole batch comes back",
                    config.name,
                    outcome.error,
                    extra={**extra, "message_ids": ids},
                )
            elif not config.report_batch_item_failures:
                failed = set()
            else:
                try:
                    failed = failed_message_ids(response, ids)
                except InvalidBatchResponse as exc:
                    failed = set(ids)
                    outcome.error = f"invalid partial batch response: {exc}"
                    log.error(
                        "mapping %s: %s; the whole batch comes back",
                        config.name,
                        outcome.error,
                        extra={**extra, "message_ids": ids},
                    )
        succeeded = [m for m in messages if m["MessageId"] not in failed]
        outcome.deleted = self._delete(succeeded)
        outcome.failed = [i for i in ids if i in failed]
        for message in messages:
            if message["MessageId"] in failed:
                self._log_failed(message, extra)
        log.info(
            "mapping %s: batch done in %.2fs, %d deleted, %d left for redelivery",
            config.name,
            time.monotonic() - started,
            len(outcome.deleted),
            len(outcome.failed),
            extra={**extra, "deleted": outcome.deleted, "failed": outcome.failed},
        )
        return outcome

    @contextlib.contextmanager
    def _kept_invisible(self, messages: Sequence[Mapping[str, Any]]) -> Iterator[None]:
        """With extend_visibility: every half visibility timeout, the batch's messages are made
        invisible for another visibility timeout until the handler returns."""
        if not self.config.extend_visibility:
            yield
            return
        done = threading.Event()
        period = max(1.0, self.queue.visibility_timeout / 2)

        def extend() -> None:
            while not done.wait(period):
                try:
                    self._change_visibility(messages, self.queue.visibility_timeout)
                except Exception as exc:
                    log.warning(
                        "mapping %s: cannot extend the visibility of the batch in flight: %s",
                        self.config.name,
                        exc,
                        extra={"mapping": self.config.name},
                    )

        keeper = threading.Thread(target=extend, name=f"visibility-{self.config.name}", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join(timeout=5)

    def _change_visibility(self, messages: Sequence[Mapping[str, Any]], timeout: int) -> None:
        for chunk in _chunks(list(messages), SQS_MAX_MESSAGES):
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.queue.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": timeout}
                    for i, m in enumerate(chunk)
                ],
            )

    def _log_failed(self, message: Mapping[str, Any], extra: dict[str, Any]) -> None:
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        limit = self.queue.max_receive_count
        fate = (
            "moves to the DLQ at its next receive"
            if limit is not None and receives >= limit
            else f"comes back after {self.queue.visibility_timeout}s"
        )
        log.warning(
            "mapping %s: message %s failed (receive %d of %s), it %s",
            self.config.name,
            message["MessageId"],
            receives,
            limit if limit is not None else "unlimited",
            fate,
            extra={**extra, "message_id": message["MessageId"], "receive_count": receives},
        )

    def _delete(self, messages: Sequence[Mapping[str, Any]]) -> list[str]:
        deleted: list[str] = []
        for chunk in _chunks(list(messages), SQS_MAX_MESSAGES):
            entries = {str(i): m for i, m in enumerate(chunk)}
            response = self._sqs.delete_message_batch(
                QueueUrl=self.queue.url,
                Entries=[{"Id": i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in entries.items()],
            )
            deleted += [entries[e["Id"]]["MessageId"] for e in response.get("Successful", [])]
            for failure in response.get("Failed", []):
                log.warning(
                    "mapping %s: could not delete message %s (%s): it will be delivered again",
                    self.config.name,
                    entries[failure["Id"]]["MessageId"],
                    failure.get("Message") or failure.get("Code"),
                    extra={"mapping": self.config.name, "message_id": entries[failure["Id"]]["MessageId"]},
                )
        return deleted


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- environments: threads in this process, or processes (concurrency > 1) ------------------------
class _Environment(Protocol):
    name: str

    def is_alive(self) -> bool: ...

    def join(self, timeout: float | None = None) -> None: ...


def _thread_main(poller: Poller) -> None:
    poller.run()


def _process_main(config_json: str, stop: StopEvent, index: int, log_format: str, log_level: str) -> None:
    """Entry of an environment process (spawned: a fresh interpreter, like a Lambda sandbox)."""
    configure_logging(log_level, log_format)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    config = MappingConfig.model_validate_json(config_json)
    # off unless OTEL_TRACES_ENABLED (docs/decisions/0019-platform-metrics-and-traces.md)
    configure_tracing(f"mlops-{config.name}")
    Poller(config, load_handler(config.handler), stop, index=index).run()


class LocalRunner:
    """Runs mappings until stopped. `start()` checks every mapping (handler importable, queue URL set,
    queue readable) before any poller starts, so a bad configuration fails at once and clearly."""

    def __init__(
        self,
        mappings: Sequence[MappingConfig],
        *,
        log_format: str = "text",
        log_level: str = "INFO",
    ) -> None:
        if not mappings:
            raise MappingError("no mapping to run")
        self.mappings = list(mappings)
        self._log_format = log_format
        self._log_level = log_level
        self._stop = threading.Event()
        self._process_stop: StopEvent | None = None
        self._environments: list[_Environment] = []
        self._started = False

    @property
    def stop_event(self) -> threading.Event:
        """Set it (or call stop()) to stop every poller after its current batch."""
        return self._stop

    def start(self) -> LocalRunner:
        if self._started:
            raise RuntimeError("the runner is already started")
        pollers: list[Poller] = []
        for config in self.mappings:
            handler = load_handler(config.handler)
            # The first environment is built here (in this process) for its checks.
            pollers.append(Poller(config, handler, self._stop))
        spawn = multiprocessing.get_context("spawn")
        for config, poller in zip(self.mappings, pollers, strict=True):
            if config.concurrency == 1:
                thread = threading.Thread(
                    target=_thread_main, args=(poller,), name=f"runner-{config.name}", daemon=True
                )
                thread.start()
                self._environments.append(thread)
                continue
            if self._process_stop is None:
                self._process_stop = spawn.Event()
            for index in range(config.concurrency):
                process = spawn.Process(
                    target=_process_main,
                    args=(
                        config.model_dump_json(),
                        self._process_stop,
                        index,
                        self._log_format,
                        self._log_level,
                    ),
                    name=f"runner-{config.name}-{index}",
                    daemon=True,
                )
                process.start()
                self._environments.append(process)
        self._started = True
        return self

    def alive(self) -> bool:
        """True while every environment runs."""
        return self._started and all(e.is_alive() for e in self._environments)

    def dead_environments(self) -> list[str]:
        return [e.name for e in self._environments if not e.is_alive()]

    def stop(self, timeout: float | None = None) -> bool:
        """Stop polling, let in-flight batches finish. Waits up to `timeout` seconds (default: the
        longest poll wait plus the longest function timeout). Returns True when everything stopped;
        environments still busy after the timeout are abandoned (threads) or terminated (processes),
        and their messages come back after the visibility timeout."""
        self._stop.set()
        if self._process_stop is not None:
            self._process_stop.set()
        if timeout is None:
            timeout = max(m.poll_wait_seconds + m.function_timeout_seconds for m in self.mappings) + 5
        deadline = time.monotonic() + timeout
        for environment in self._environments:
            environment.join(max(0.0, deadline - time.monotonic()))
        stuck = [e for e in self._environments if e.is_alive()]
        for environment in stuck:
            log.warning("runner: %s did not stop within %.0fs", environment.name, timeout)
            if isinstance(environment, multiprocessing.process.BaseProcess):
                environment.terminate()
                environment.join(5)
        return not stuck

    def wait(self, *, heartbeat_file: Path | None = None, check_every: float = 1.0) -> int:
        """Block until stop_event is set (then stop cleanly: 0) or an environment dies (1)."""
        while not self._stop.wait(check_every):
            dead = self.dead_environments()
            if dead:
                log.error("runner: environment(s) %s died; stopping", ", ".join(dead))
                self.stop()
                return 1
            if heartbeat_file is not None:
                heartbeat_file.touch()
        return 0 if self.stop() else 1

    def __enter__(self) -> LocalRunner:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


# -- the entrypoint ------------------------------------------------------------------------------
def load_env(path: Path) -> None:
    """KEY=VALUE lines (terraform/envs/local's .local/stack.env) into the environment; variables
    already set win."""
    if not path.is_file():
        raise MappingError(f"cannot read the env file {path}")
    load_dotenv(path, override=False)


def check_heartbeat(path: Path, max_age: float) -> int:
    """0 when `path` was touched less than `max_age` seconds ago (a container HEALTHCHECK)."""
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        print(f"no heartbeat file {path}", file=sys.stderr)
        return 1
    if age > max_age:
        print(f"heartbeat {path} is {age:.0f}s old (limit {max_age:.0f}s)", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_sqs_runtime.runner",
        description="Play Lambda's SQS event-source mappings: poll queues, invoke the workers' handlers.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--mapping", action="append", metavar="NAME", help="a mapping to run (repeatable)")
    which.add_argument("--all", action="store_true", help="every enabled mapping")
    which.add_argument("--list", action="store_true", help="list the mappings and exit")
    which.add_argument(
        "--check-heartbeat", type=Path, metavar="FILE", help="exit 0 if FILE is fresh (HEALTHCHECK)"
    )
    parser.add_argument(
        "--mappings-file",
        type=Path,
        default=None,
        help=f"default: ${MAPPINGS_FILE_ENV}, else the repository's terraform/lambda_mappings.json",
    )
    parser.add_argument(
        "--env-file", type=Path, action="append", default=[], help="KEY=VALUE file loaded first (repeatable)"
    )
    parser.add_argument("--heartbeat-file", type=Path, help="touched every second while all pollers run")
    parser.add_argument("--max-age", type=float, default=30.0, help="for --check-heartbeat (seconds)")
    parser.add_argument(
        "--log-format", choices=["json", "text"], default=os.environ.get("LOG_FORMAT", "json")
    )
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.check_heartbeat is not None:
        return check_heartbeat(args.check_heartbeat, args.max_age)
    configure_logging(args.log_level, args.log_format)
    try:
        for env_file in args.env_file:
            load_env(env_file)
        # the workers' spans (their ApiClient calls carry the run id and the trace context into the
        # API's spans); off unless OTEL_TRACES_ENABLED (docs/decisions/0019-platform-metrics-and-traces.md)
        configure_tracing("mlops-workers")
        mappings = load_mappings(args.mappings_file)
        if args.list:
            for m in mappings.values():
                state = "" if m.enabled else "  (disabled)"
                print(f"{m.name:<14} {m.handler:<45} {m.queue_url_env or m.queue_url}{state}")
            return 0
        if not args.mapping and not args.all:
            raise MappingError("name at least one --mapping (or --all); --list shows them")
        runner = LocalRunner(
            select_mappings(mappings, None if args.all else args.mapping),
            log_format=args.log_format,
            log_level=args.log_level,
        )
        runner.start()
    except MappingError as exc:
        print(f"runner: {exc}", file=sys.stderr)
        return 2

    def _stop(signum: int, _frame: object) -> None:
        log.info("runner: %s received, stopping after the current batches", signal.Signals(signum).name)
        runner.stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with contextlib.suppress(KeyboardInterrupt):
        return runner.wait(heartbeat_file=args.heartbeat_file)
    return 0 if runner.stop() else 1


if __name__ == "__main__":
    sys.exit(main())
